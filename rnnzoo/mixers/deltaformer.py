"""``deltaformer``: DeltaFormer attention (Zhong, Xu, Ao & Shi 2025, Understanding Transformer from the Perspective
of Associative Memory, Sec. 4.3), the ``DeltaFormerAttention`` layer of flash-linear-attention:

    q, k, v = rotary(W_q x), rotary(W_k x), W_v x           (rotary at absolute positions, as ``attention``)
    beta_t = W_b x_t + b_b                                  (one per head; the layer's raw projection)
    u_t = v_t - beta_t sum_{j<t} softmax_j(k_t·k_j / sqrt(D)) u_j
    o_t = sum_{j<=t} softmax_j(q_t·k_j / sqrt(D)) u_j;   y = W_o o

The writes u are the delta rule with a softmax kernel (key-key similarity, as fla's layer chooses for its
pre-attention). State: (k_cache [B, L, H, D] rotated keys, u_cache [B, L, H, D] their writes, pos [B] int64):
a new token needs every earlier key and write, so the exact step keeps a growing cache (state_size None) as
softmax attention does; the right-aligned cache and its masking by ``pos`` are ``attention``'s.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from rnnzoo.mixers.attention import Attention, AttentionConfig
from rnnzoo.mixers.base import Mixer
from rnnzoo.mixers.registry import register
from rnnzoo.ops.deltaformer import deltaformer_attention
from rnnzoo.ops.rotary import apply_rotary


@dataclass
class DeltaFormerConfig(AttentionConfig):
    chunk_size: int = 64

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {self.chunk_size}")


@register("deltaformer")
class DeltaFormer(Attention):
    """Softmax attention over delta-rule writes u (a softmax-kernel delta rule), with a key/write cache."""

    config_class = DeltaFormerConfig
    paper = "Zhong et al. 2025, Understanding Transformer from the Perspective of Associative Memory (DeltaFormer)"
    state_formula = "grows: 2 * T * d_model (key and write cache)"
    sequence_parallel = None  # a chunk's writes depend on every earlier write
    fast_path = "chunked triangular solve for the writes, then SDPA (ops.deltaformer.deltaformer_attention)"
    matrix_form = ""  # the writes depend nonlinearly on the keys before them

    def __init__(self, config: DeltaFormerConfig):
        Mixer.__init__(self, config)
        d, h = config.d_model, config.num_heads
        self.num_heads, self.head_dim = h, d // h
        self.qkv = nn.Linear(d, 3 * d, bias=config.bias)
        self.b_proj = nn.Linear(d, h, bias=True)
        self.out_proj = nn.Linear(d, d, bias=config.bias)

    def _forward(self, x, state):
        b, t, _ = x.shape
        if state is None:
            state = self.init_state(b, device=x.device, dtype=x.dtype)
        k_cache, u_cache, pos = state
        q, k, v = self.qkv(x).view(b, t, 3, self.num_heads, self.head_dim).unbind(2)
        positions = pos[:, None] + torch.arange(t, device=x.device)
        q = apply_rotary(q, positions, self.config.rotary_base)
        k = apply_rotary(k, positions, self.config.rotary_base)
        keys = torch.cat((k_cache, k), 1)
        o, writes = deltaformer_attention(q, keys, v, self.b_proj(x), initial_state=u_cache,
                                          k_valid=self._valid(pos, keys.shape[1], t), output_final_state=True,
                                          chunk_size=self.config.chunk_size)
        return self.out_proj(o.reshape(b, t, -1)), (keys, writes.to(x.dtype), pos + t)
