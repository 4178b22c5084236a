"""``fox``: the Forgetting Transformer's attention (Lin et al. 2025, Forgetting Transformer: Softmax Attention
with a Forget Gate, eq. 3-6): causal multi-head softmax attention whose logits are lowered by a data-dependent,
per-head scalar forget gate.

    f_t = sigmoid(w_fᵀ x_t + b_f)          (one gate per head and token)
    F_i = sum_{l<=i} log f_l
    o_i = sum_{j<=i} softmax_j(q_i·k_j / sqrt(D) + F_i - F_j) v_j
    y = W_o (o ⊙ sigmoid(W_g x))            (the output gate of "FoX (Pro)"; ``output_gate=False``: y = W_o o)

No positional embedding (the forget gate supplies recency, as in the paper's FoX). State: (k_cache [B, L, H, D],
v_cache [B, L, H, D], g_cache [B, L, H] the log forget gate of every cached key, pos [B] int64); the running
F_i - F_j of a new query is the sum of the cached and new gates after key j, so no absolute F is kept (it would
lose precision as it grows). L grows with every call, as attention's cache; the right-aligned cache and its
masking by ``pos`` are ``attention``'s. The Pro variant's QK-norm and key/value shift are not included.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from rnnzoo.mixers.attention import Attention
from rnnzoo.mixers.base import MatrixParts, Mixer, MixerConfig, State
from rnnzoo.mixers.registry import register
from rnnzoo.ops.forgetting_attention import forgetting_attention


@dataclass
class FoXConfig(MixerConfig):
    num_heads: int = 4
    output_gate: bool = True
    bias: bool = False  # of the q, k, v, output-gate and output projections (the forget gate always has one)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.num_heads < 1 or self.d_model % self.num_heads:
            raise ValueError(f"d_model={self.d_model} must be divisible by num_heads={self.num_heads}")


@register("fox")
class FoX(Attention):
    """Softmax attention with a per-head scalar forget gate (Forgetting Transformer) and a KV cache."""

    config_class = FoXConfig
    paper = "Lin et al. 2025, Forgetting Transformer: Softmax Attention with a Forget Gate"
    state_formula = "grows: (2 * d_model + num_heads) * T (KV cache and each cached key's log forget gate)"
    sequence_parallel = None  # the forget gates after a key would have to cross the chunks too
    fast_path = "SDPA with the forget-gate bias as an additive mask (ops.forgetting_attention, mode='sdpa')"
    matrix_form = "softmax(q kᵀ / sqrt(D) + F_i - F_j), F = cumsum log f"

    def __init__(self, config: FoXConfig):
        Mixer.__init__(self, config)
        d, h = config.d_model, config.num_heads
        self.num_heads, self.head_dim = h, d // h
        self.qkv = nn.Linear(d, 3 * d, bias=config.bias)
        self.f_proj = nn.Linear(d, h, bias=True)
        self.g_proj = nn.Linear(d, d, bias=config.bias) if config.output_gate else None
        self.out_proj = nn.Linear(d, d, bias=config.bias)

    def init_state(self, batch_size, device=None, dtype=None) -> State:
        k_cache, v_cache, pos = super().init_state(batch_size, device=device, dtype=dtype)
        return k_cache, v_cache, k_cache.new_zeros(batch_size, 0, self.num_heads), pos

    def _inputs(self, x):
        """x [B, T, d_model] -> q, k, v [B, T, H, D] and the log forget gates [B, T, H]."""
        b, t, _ = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.num_heads, self.head_dim).unbind(2)
        return q, k, v, F.logsigmoid(self.f_proj(x))

    def _readout(self, o, x):
        o = o.reshape(x.shape)
        return self.out_proj(o if self.g_proj is None else o * torch.sigmoid(self.g_proj(x)))

    def _forward(self, x, state):
        if state is None:
            state = self.init_state(x.shape[0], device=x.device, dtype=x.dtype)
        k_cache, v_cache, g_cache, pos = state
        q, k, v, g = self._inputs(x)
        keys, values, gates = torch.cat((k_cache, k), 1), torch.cat((v_cache, v), 1), torch.cat((g_cache, g), 1)
        o = forgetting_attention(q, keys, values, gates, k_valid=self._valid(pos, keys.shape[1], x.shape[1]))
        return self._readout(o, x), (keys, values, gates, pos + x.shape[1])

    def _matrix_parts(self, x):
        q, k, v, g = self._inputs(x)
        f = g.cumsum(1)  # [B, T, H]
        scores = torch.einsum("bthk,bshk->bhts", q, k) * self.head_dim ** -0.5
        scores = scores + (f[:, :, None] - f[:, None, :]).permute(0, 3, 1, 2)  # F_t - F_s
        keep = torch.ones(x.shape[1], x.shape[1], dtype=torch.bool, device=x.device).tril()
        return MatrixParts(scores.masked_fill(~keep, float("-inf")).softmax(-1), v, lambda o: self._readout(o, x))
