"""Softmax attention mixers: ``attention`` (causal, growing KV cache) and ``sliding_attention``
(window w, a bounded cache: a recurrent model whose state is the last w-1 keys and values).

Multi-head attention (Vaswani et al., 2017) with rotary positions (Su et al., RoFormer) applied at
absolute positions before caching, so cached keys never need re-rotating. State:
(k_cache [B, L, H, D], v_cache [B, L, H, D], pos [B] int64 tokens seen). For ``attention`` L grows
with every call; for ``sliding_attention`` L = window - 1. The cache is right-aligned: slots before a
row's first token (a sliding window not yet full, or rows of different lengths stacked after a packed or
padded call) are masked out by ``pos``, so rows at different positions share one call.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from rnnzoo.mixers.base import MatrixParts, Mixer, MixerConfig, State
from rnnzoo.mixers.registry import register
from rnnzoo.ops.attention import softmax_attention
from rnnzoo.ops.matrix import softmax_matrix
from rnnzoo.ops.rotary import apply_rotary


@dataclass
class AttentionConfig(MixerConfig):
    num_heads: int = 4
    rotary_base: float = 10000.0
    bias: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.num_heads < 1 or self.d_model % self.num_heads:
            raise ValueError(f"d_model={self.d_model} must be divisible by num_heads={self.num_heads}")
        if (self.d_model // self.num_heads) % 2:
            raise ValueError(f"head dim d_model/num_heads={self.d_model // self.num_heads} must be even for rotary")


@dataclass
class SlidingAttentionConfig(AttentionConfig):
    window: int = 64  # keys each query sees, itself included

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.window < 1:
            raise ValueError(f"window must be >= 1, got {self.window}")


@register("attention")
class Attention(Mixer):
    """Causal multi-head softmax attention with rotary positions and a KV cache."""

    config_class = AttentionConfig
    paper = "Vaswani et al. 2017, Attention Is All You Need (+ RoPE, Su et al. 2021)"
    state_formula = "grows: 2 * T * d_model (KV cache)"
    sequence_parallel = "cache"  # rnnzoo.distributed: LASP-2H, keys and values all-gathered
    fast_path = "SDPA (F.scaled_dot_product_attention)"
    mixed_positions = True
    matrix_form = "softmax(q kᵀ / sqrt(D)) (rotary q, k; keys outside the window masked)"

    def __init__(self, config: AttentionConfig):
        super().__init__(config)
        self.num_heads, self.head_dim = config.num_heads, config.d_model // config.num_heads
        self.qkv = nn.Linear(config.d_model, 3 * config.d_model, bias=config.bias)
        self.out_proj = nn.Linear(config.d_model, config.d_model, bias=config.bias)

    @property
    def window(self) -> int | None:
        return None

    @property
    def state_size(self) -> int | None:
        return None

    def _cache_len(self) -> int:
        return 0

    def init_state(self, batch_size, device=None, dtype=None) -> State:
        dtype = dtype or self._param_dtype()
        cache = torch.zeros(batch_size, self._cache_len(), self.num_heads, self.head_dim, device=device, dtype=dtype)
        return cache, cache.clone(), torch.zeros(batch_size, dtype=torch.long, device=device)

    def _forward(self, x, state):
        b, t, _ = x.shape
        if state is None:
            state = self.init_state(b, device=x.device, dtype=x.dtype)
        k_cache, v_cache, pos = state
        q, k, v = self.qkv(x).view(b, t, 3, self.num_heads, self.head_dim).unbind(2)
        positions = pos[:, None] + torch.arange(t, device=x.device)
        q = apply_rotary(q, positions, self.config.rotary_base)
        k = apply_rotary(k, positions, self.config.rotary_base)
        keys, values = torch.cat((k_cache, k), 1), torch.cat((v_cache, v), 1)
        k_valid = self._valid(pos, keys.shape[1], t)
        o = softmax_attention(q, keys, values, window=self.window, k_valid=k_valid)
        new_len = keys.shape[1] if self.window is None else self._cache_len()
        state = (keys[:, keys.shape[1] - new_len:], values[:, values.shape[1] - new_len:], pos + t)
        return self.out_proj(o.reshape(b, t, -1)), state

    def _matrix_parts(self, x):
        b, t, _ = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.num_heads, self.head_dim).unbind(2)
        positions = torch.arange(t, device=x.device).expand(b, t)
        q, k = (apply_rotary(p, positions, self.config.rotary_base) for p in (q, k))
        return MatrixParts(softmax_matrix(q, k, window=self.window), v,
                           lambda o: self.out_proj(o.reshape(b, t, -1)))

    def _valid(self, pos, n_keys: int, t: int) -> torch.Tensor | None:
        # Cache slots are right-aligned: slot j of the cache is real once pos >= cache_len - j.
        cache_len = n_keys - t
        if cache_len == 0:
            return None
        slot = torch.arange(n_keys, device=pos.device)
        return slot[None, :] >= (cache_len - pos.clamp(max=cache_len))[:, None]

    def _step(self, x_t, state):
        y, state = self._forward(x_t.unsqueeze(1), state)
        return y[:, 0], state


@register("sliding_attention")
class SlidingAttention(Attention):
    """Causal attention restricted to the last ``window`` tokens (Longformer/Mistral-style local attention)."""

    config_class = SlidingAttentionConfig
    paper = "Beltagy et al. 2020, Longformer (local window attention); Jiang et al. 2023, Mistral"
    state_formula = "2 * (window - 1) * d_model"
    sequence_parallel = None  # rnnzoo.distributed: the bounded cache shifts, it does not grow

    @property
    def window(self) -> int | None:
        return self.config.window

    @property
    def state_size(self) -> int | None:
        return Mixer.state_size.fget(self)

    def _cache_len(self) -> int:
        return self.config.window - 1
