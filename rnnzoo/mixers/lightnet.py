"""``lightnet``: LightNet (Qin et al. 2024, You Only Scan Once: Efficient Multi-dimension Sequential
Modeling with LightNet, eq. 5-8): linear attention with an *additive* decay, written in its
multiplicative-gate form as in flash-linear-attention's ``LightNetAttention``:

    z_t = log(exp(z_{t-1}) + exp(k_t))               (running log-sum-exp of the key logits, per channel)
    k'_t = exp(k_t - z_t);   gk_t = z_{t-1} - z_t     (<= 0: the gate that rescales S to the new sum)
    S_t = diag(exp(gk_t)) S_{t-1} + k'_t v_tᵀ;  o_t = S_tᵀ silu(q_t) / sqrt(d_k)
    y = W_o (RMSNorm(o) * swish(W_g2 W_g1 x))        (low-rank output gate)

so S_t = sum_s softmax_s(k)_t-normalised keys times values: each channel's key weights are a softmax
over the prefix. State: S [B, H, d_k, d_v] and z [B, H, d_k]; the zero state has z = -inf (no keys yet),
and a first step from it applies no decay (S is zero anyway). ``use_short_conv`` puts fla's causal conv
(no activation, as fla's layer) on W_q x, W_k x, W_v x and appends its three windows to the state.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from rnnzoo.mixers.base import State
from rnnzoo.mixers.linear_base import ShortConvConfig, SquareHeadsMixer
from rnnzoo.mixers.norms import GatedRMSNorm
from rnnzoo.mixers.registry import register
from rnnzoo.ops.gla import gla


@dataclass
class LightNetConfig(ShortConvConfig):
    gate_low_rank_dim: int = 128


@register("lightnet")
class LightNet(SquareHeadsMixer):
    """LightNet additive-decay linear attention; state (S [B, H, D, D], z [B, H, D]), D = d_model / num_heads."""

    config_class = LightNetConfig
    paper = "Qin et al. 2024, You Only Scan Once: Efficient Multi-dimension Sequential Modeling with LightNet"
    state_formula = "d_model * d_model / num_heads + d_model (+ 3 * (conv_size - 1) * d_model with use_short_conv)"
    fast_path = "compiled CPU loop or chunkwise GLA (gla op, mode='auto') + logcumsumexp"
    fast_mode = "auto"
    log_space_state = (1,)  # the log normaliser of the softmax-like gate

    def __init__(self, config: LightNetConfig):
        super().__init__(config)
        d = config.d_model
        self.o_proj = nn.Linear(d, d, bias=False)
        self.g_proj = nn.Sequential(nn.Linear(d, config.gate_low_rank_dim, bias=False),
                                    nn.Linear(config.gate_low_rank_dim, d, bias=False))
        self.norm = GatedRMSNorm(d, eps=1e-5)
        self._init_short_conv(d, d, d, activation=None)

    def init_state(self, batch_size, device=None, dtype=None) -> State:
        s = self._zero_memory(batch_size, device=device, dtype=dtype)
        z = torch.full(s.shape[:-1], float("-inf"), device=device, dtype=s.dtype)
        return (s, z, *self._conv_state(batch_size, device=device, dtype=s.dtype))

    def _mix(self, x, state, mode):
        (s, z0), windows = self._split_conv_state(state)
        q, k, v, windows = self._qkv(x, windows)
        z = torch.logaddexp(z0[:, None], torch.logcumsumexp(k, 1))  # [B, T, H, D]
        prev = torch.cat((z0[:, None], z[:, :-1]), 1)
        # Before the first key z is -inf; S is still zero then, so "no decay" is exact.
        gk = torch.where(torch.isfinite(prev), prev - z, torch.zeros_like(z))
        o, s = gla(F.silu(q), (k - z).exp(), v, gk, initial_state=s, output_final_state=True, mode=mode)
        y = self.o_proj(self.norm(o.reshape(x.shape), self.g_proj(x)))
        return y, (s.to(x.dtype), z[:, -1], *windows)
