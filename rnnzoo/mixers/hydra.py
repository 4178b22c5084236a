"""Hydra (Hwang et al. 2024, Hydra: Bidirectional State Space Models Through Generalized Matrix Mixers, Sec. 3-4;
the ``Hydra`` module of goombalab/hydra): a bidirectional quasiseparable matrix mixer built from two Mamba-2 SSD
passes, one over the sequence and one over its reverse, each shifted by one token, plus a data-dependent diagonal:

    y = shift(SS_fw(x)) + flip(shift(SS_bw(flip(x)))) + (fc_D(x) + D) * x
    M[i, j] = C_{i-1} B_j dt^f_j  prod_{j<r<i} exp(dt^f_r A)     for j < i     (the forward SSD, shifted)
            = C_{i+1} B_j dt^b_j  prod_{i<r<j} exp(dt^b_r A)     for j > i     (the backward SSD, shifted)
            = fc_D(x_i) + D                                      for j = i

B, C and A are shared by both directions, dt is not. Around it: in_proj -> (z, xBC, dt_fw, dt_bw), a centred
(non-causal) depthwise conv of width d_conv over xBC with SiLU, then RMSNorm(y) * silu(z) and out_proj.
Defaults are the reference's: d_state 64, expand 2, headdim 64, ngroups 1, d_conv 7, Mamba-2's dt and A inits.
Hydra is not causal: it has no step and no carried state.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from rnnzoo.mixers.base import NonCausalMixer, reverse_time
from rnnzoo.mixers.norms import GatedRMSNorm
from rnnzoo.mixers.registry import register
from rnnzoo.mixers.ssm_init import A_from_log, SSDConfig, split_ssd_heads, ssd_head_params
from rnnzoo.ops.ssd import ssd


@dataclass
class HydraConfig(SSDConfig):
    d_conv: int = 7

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.d_conv < 1 or self.d_conv % 2 == 0:
            raise ValueError(f"d_conv must be odd (a centred conv), got {self.d_conv}")


@register("hydra")
class Hydra(NonCausalMixer):
    """Hydra: bidirectional quasiseparable mixer from two shifted SSD passes and a diagonal term (non-causal)."""

    config_class = HydraConfig
    paper = "Hwang et al. 2024, Hydra: Bidirectional State Space Models Through Generalized Matrix Mixers"
    state_formula = "none (non-causal)"
    fast_path = "two SSD passes batched together (rnnzoo.ops.ssd mode='auto': compiled CPU loop or chunked)"

    def __init__(self, config: HydraConfig):
        super().__init__(config)
        c = config
        self.d_inner = c.expand * c.d_model
        self.nheads = self.d_inner // c.headdim
        self.conv_dim = self.d_inner + 2 * c.ngroups * c.d_state
        self.in_proj = nn.Linear(c.d_model, self.d_inner + self.conv_dim + 2 * self.nheads, bias=False)
        self.conv1d = nn.Conv1d(self.conv_dim, self.conv_dim, c.d_conv, groups=self.conv_dim, padding=c.d_conv // 2)
        self.dt_bias, self.A_log, self.D = ssd_head_params(self.nheads, c)
        self.fc_D = nn.Linear(self.d_inner, self.nheads, bias=False)
        self.norm = GatedRMSNorm(self.d_inner, group_size=self.d_inner // c.ngroups, eps=1e-5)
        self.out_proj = nn.Linear(self.d_inner, c.d_model, bias=False)

    def project(self, u):
        """u: [B, T, d_model] -> z [B,T,d_inner], x [B,T,H,P], B, C [B,T,H,N], dt_fw, dt_bw [B,T,H] (softplus'd)."""
        Bt, T, _ = u.shape
        z, xBC, dt = self.in_proj(u).split([self.d_inner, self.conv_dim, 2 * self.nheads], dim=-1)
        xBC = F.silu(self.conv1d(xBC.transpose(1, 2)).transpose(1, 2))
        x, B, C = split_ssd_heads(xBC, self.config)
        dt = F.softplus(dt.view(Bt, T, 2, self.nheads) + self.dt_bias)
        return z, x, B, C, dt[:, :, 0], dt[:, :, 1]

    def output(self, y, x, z):
        """y: the mixed sequence [B, T, H, P] -> out [B, T, d_model] (diagonal term, gated norm, out_proj)."""
        diag = self.fc_D(x.flatten(2)) + self.D  # [B, T, H]: the data-dependent diagonal of M
        y = (y + x * diag.unsqueeze(-1)).flatten(2)
        return self.out_proj(self.norm(y, z))

    def _forward(self, u, state):
        z, x, B, C, dt_f, dt_b = self.project(u)
        A = A_from_log(self.A_log)
        Bt = u.shape[0]
        # both directions in one batched SSD call: the backward pass runs over the reversed sequence
        xs = torch.cat((x * dt_f.unsqueeze(-1), reverse_time(x * dt_b.unsqueeze(-1))))
        y, _ = ssd(xs, torch.cat((dt_f, reverse_time(dt_b))) * A, torch.cat((B, reverse_time(B))),
                   torch.cat((C, reverse_time(C))), chunk_size=self.config.chunk_size)
        y = F.pad(y[:, :-1], (0, 0, 0, 0, 1, 0))  # shift by one token: the diagonal is the separate term
        return self.output(y[:Bt] + reverse_time(y[Bt:]), x, z), ()
