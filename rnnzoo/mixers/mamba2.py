"""Mamba-2 (Dao & Gu 2024, Transformers are SSMs: Generalized Models and Efficient Algorithms Through
Structured State Space Duality, Sec. 7), the ``mamba2_simple.Mamba2Simple`` block of mamba_ssm:

    z, xBC, dt = in_proj(u);  x, B, C = silu(conv1d(xBC))        conv over x, B and C together
    delta = softplus(dt + dt_bias);  A = -exp(A_log)              one scalar A and delta per head
    y = SSD(x * delta, delta * A, B, C) + D x                     heads of size headdim, B/C shared by groups
    out = out_proj(RMSNorm(y * silu(z)))                          the gated norm, gate before norm

Defaults: d_state 64, expand 2, headdim 64, ngroups 1, d_conv 4, A_log = log(U[1, 16]), dt bias as in Mamba
(softplus(bias) log-uniform in [1e-3, 1e-1]). ``allow_neg_eigval=True`` (Grazzi et al. 2025) uses the signed
transition 2 exp(delta A) - 1 in (-1, 1] through ``signed_ssd``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from rnnzoo.mixers.base import MatrixParts, Mixer, State
from rnnzoo.mixers.norms import GatedRMSNorm
from rnnzoo.mixers.registry import register
from rnnzoo.mixers.short_conv import ShortConvolution
from rnnzoo.mixers.ssm_init import A_from_log, SSDConfig, split_ssd_heads, ssd_head_params
from rnnzoo.ops.matrix import scalar_decay_matrix
from rnnzoo.ops.ssd import signed_ssd, ssd


@dataclass
class Mamba2Config(SSDConfig):
    allow_neg_eigval: bool = False


@register("mamba2")
class Mamba2(Mixer):
    """Mamba-2 mixer: SSD heads with scalar per-head decay, grouped B/C, gated RMSNorm."""

    config_class = Mamba2Config
    paper = "Dao & Gu 2024, Transformers are SSMs (Mamba-2)"
    state_formula = "expand*d_model*d_state + (expand*d_model + 2*ngroups*d_state)*(d_conv - 1)"
    fast_path = "compiled CPU SSD loop, else chunked SSD (rnnzoo.ops.ssd mode='auto')"
    fast_mode = "auto"
    matrix_form = "scalar decay per head (SSD: C_t·B_s, delta_s folded into column s), D on the diagonal"
    sequence_parallel = "diagonal"  # rnnzoo.distributed: the state crosses a chunk as T * S + b

    def __init__(self, config: Mamba2Config):
        super().__init__(config)
        c = config
        self.d_inner = c.expand * c.d_model
        self.nheads = self.d_inner // c.headdim
        self.conv_dim = self.d_inner + 2 * c.ngroups * c.d_state
        self.in_proj = nn.Linear(c.d_model, self.d_inner + self.conv_dim + self.nheads, bias=False)
        self.conv = ShortConvolution(self.conv_dim, c.d_conv, bias=True, activation="silu")
        self.dt_bias, self.A_log, self.D = ssd_head_params(self.nheads, c)
        self.norm = GatedRMSNorm(self.d_inner, group_size=self.d_inner // c.ngroups, eps=1e-5, norm_before_gate=False)
        self.out_proj = nn.Linear(self.d_inner, c.d_model, bias=False)

    def init_state(self, batch_size, device=None, dtype=None) -> State:
        dtype = dtype or self._param_dtype()
        c = self.config
        return (self.conv.init_state(batch_size, device=device, dtype=dtype),
                torch.zeros(batch_size, self.nheads, c.d_state, c.headdim, device=device, dtype=dtype))

    def _mix(self, u, state, mode):
        c = self.config
        conv_state, h = state
        Bt, T, _ = u.shape
        z, x, B, C, delta, log_decay, conv_state = self._inputs(u, conv_state)
        if c.allow_neg_eigval:
            y, h = signed_ssd(x * delta.unsqueeze(-1), 2 * torch.exp(log_decay) - 1, B, C, h,
                              output_final_state=True, mode=mode, chunk_size=c.chunk_size)
        else:
            y, h = ssd(x * delta.unsqueeze(-1), log_decay, B, C, h, output_final_state=True, mode=mode,
                       chunk_size=c.chunk_size)
        y = (y + x * self.D[:, None]).reshape(Bt, T, self.d_inner)
        return self.out_proj(self.norm(y, z)), (conv_state, h)

    def _inputs(self, u, conv_state):
        """u [B, T, d_model] -> z [B, T, d_inner], x [B, T, H, P], B, C [B, T, H, N], delta and log decay [B, T, H],
        and the new conv window."""
        z, xBC, dt = self.in_proj(u).split([self.d_inner, self.conv_dim, self.nheads], dim=-1)
        xBC, conv_state = self.conv(xBC, conv_state)
        x, B, C = split_ssd_heads(xBC, self.config)
        delta = F.softplus(dt + self.dt_bias)  # [B, T, H]
        return z, x, B, C, delta, A_from_log(self.A_log) * delta, conv_state

    def _matrix_parts(self, u):
        if self.config.allow_neg_eigval:
            raise ValueError("Mamba2: materialize covers the positive decays exp(delta A), not allow_neg_eigval")
        z, x, B, C, delta, log_decay, _ = self._inputs(u, self.conv.init_state(u.shape[0], device=u.device,
                                                                                dtype=u.dtype))
        m = scalar_decay_matrix(C, B, log_decay, scale=1.0) * delta.transpose(1, 2)[:, :, None, :]
        m = m + self.D[:, None, None] * torch.eye(u.shape[1], dtype=m.dtype, device=m.device)
        return MatrixParts(m, x, lambda o: self.out_proj(self.norm(o.flatten(2), z)))
