"""Mamba (Gu & Dao 2023, Mamba: Linear-Time Sequence Modeling with Selective State Spaces, Sec. 3.4 and
Algorithm 2), the ``mamba_simple.Mamba`` block of mamba_ssm:

    x, z = in_proj(u);  x = silu(conv1d(x))                      causal depthwise conv, window carried in step
    dt, B, C = x_proj(x);  delta = softplus(dt_proj(dt))          x-dependent dt (rank dt_rank), B, C
    y = selective_scan(x, delta, A = -exp(A_log), B, C, D) * silu(z);  out = out_proj(y)

Defaults are Mamba-1's: d_state 16, expand 2, d_conv 4, dt_rank ceil(d_model / 16), dt_proj bias so that
softplus(bias) is log-uniform in [1e-3, 1e-1] (floor 1e-4), A_log = log(1..d_state) (S4D-real), D = 1.

``allow_neg_eigval=True`` (Grazzi et al. 2025, Unlocking State-Tracking in Linear RNNs Through Negative
Eigenvalues) maps the transition exp(delta A) in (0, 1] to 2 exp(delta A) - 1 in (-1, 1]
(``signed_selective_scan``, same fast path).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from rnnzoo.mixers.base import MatrixParts
from rnnzoo.mixers.mamba_block import MambaBlock, MambaBlockConfig
from rnnzoo.mixers.registry import register
from rnnzoo.mixers.ssm_init import A_from_log, a_log_s4d_real, at_least_float32, dt_bias_init, no_weight_decay
from rnnzoo.ops.matrix import selective_scan_matrix
from rnnzoo.ops.selective_scan import selective_scan, signed_selective_scan


@dataclass
class MambaConfig(MambaBlockConfig):  # d_state, expand, d_conv, dt_rank
    dt_min: float = 1e-3
    dt_max: float = 1e-1
    dt_init_floor: float = 1e-4
    allow_neg_eigval: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 < self.dt_min <= self.dt_max:
            raise ValueError(f"need 0 < dt_min <= dt_max, got {self.dt_min}, {self.dt_max}")


@register("mamba")
class Mamba(MambaBlock):
    """Mamba (S6) mixer: selective state space with input-dependent dt, B, C; optional negative eigenvalues."""

    config_class = MambaConfig
    paper = "Gu & Dao 2023, Mamba: Linear-Time Sequence Modeling with Selective State Spaces"
    fast_path = "compiled CPU selective scan, else time-blocked PyTorch scan (ops.selective_scan mode='auto')"
    fast_mode = "auto"
    matrix_form = "selective scan, one matrix per channel (H = d_inner, V = 1), D on the diagonal"

    def __init__(self, config: MambaConfig):
        super().__init__(config)
        c = config
        self._input_layers(c)
        self.dt_proj = nn.Linear(self.dt_rank, self.d_inner, bias=True)
        nn.init.uniform_(self.dt_proj.weight, -self.dt_rank ** -0.5, self.dt_rank ** -0.5)
        with torch.no_grad():
            self.dt_proj.bias.copy_(dt_bias_init(self.d_inner, c.dt_min, c.dt_max, c.dt_init_floor))
        self.A_log = nn.Parameter(a_log_s4d_real(self.d_inner, c.d_state))
        self._output_layers(c)
        no_weight_decay(self.A_log, self.D, self.dt_proj.bias)

    def _mix(self, x, state, mode):
        conv_state, h = state
        xi, z, dt, B, C, conv_state = self._inputs(x, conv_state)
        A = A_from_log(self.A_log)
        # allow_neg_eigval: the transition exp(delta A) in (0, 1] becomes 2 exp(delta A) - 1 in (-1, 1]
        scan = signed_selective_scan if self.config.allow_neg_eigval else selective_scan
        y, h = scan(xi.transpose(1, 2), dt.transpose(1, 2), A, B.transpose(1, 2), C.transpose(1, 2),
                    D=at_least_float32(self.D), z=z.transpose(1, 2), delta_bias=at_least_float32(self.dt_proj.bias),
                    delta_softplus=True, return_last_state=True, initial_state=h, mode=mode)
        return self.out_proj(y.transpose(1, 2)), (conv_state, h.to(x.dtype))

    def _inputs(self, x, conv_state):
        """x [B, T, d_model] -> xi, z, dt (before bias and softplus) [B, T, d_inner], B, C [B, T, d_state], conv window."""
        xi, z, dt, B, C, conv_state = self._projections(x, conv_state)
        dt = F.linear(dt, self.dt_proj.weight)  # bias goes in as delta_bias, as in mamba_ssm
        return xi, z, dt, B, C, conv_state

    def _matrix_parts(self, x):
        if self.config.allow_neg_eigval:
            raise ValueError("Mamba: materialize covers the positive transitions exp(delta A), not allow_neg_eigval")
        xi, z, dt, B, C, _ = self._inputs(x, self.conv.init_state(x.shape[0], device=x.device, dtype=x.dtype))
        f32 = torch.promote_types(x.dtype, torch.float32)
        delta = F.softplus(dt.to(f32) + self.dt_proj.bias.to(f32)).transpose(1, 2)
        m = selective_scan_matrix(delta, A_from_log(self.A_log).to(f32), B.to(f32).transpose(1, 2),
                                  C.to(f32).transpose(1, 2), self.D.to(f32))
        return MatrixParts(m.to(x.dtype), xi[..., None],
                           lambda o: self.out_proj(o[..., 0] * F.silu(z)))
