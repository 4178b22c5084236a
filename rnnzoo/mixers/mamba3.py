"""Mamba-3 (Lahoti, Li, Chen, Wang, Bick, Kolter, Dao & Gu 2026, Mamba-3: Improved Sequence Modeling using State
Space Principles), the ``Mamba3`` block of mamba_ssm (no short conv, no output norm):

    z, x, B, C, dt, A, lam, ang = in_proj(u)                   B, C: ngroups x R channels of d_state
    B = RMSNorm(B) + B_bias,  C = RMSNorm(C) + C_bias            bias per head and channel, init 1 (Table 9a)
    dt = softplus(dt + dt_bias);  A = min(-softplus(A), -A_floor);  lam = sigmoid(lam)
    theta = pi tanh(ang) dt                                      angles shared by the heads, scaled per head
    y = mamba3(x_r, dt A, dt, lam, B, C, theta) + D x_r          rnnzoo.ops.mamba3 (trapezoid, rotary, R channels)
    SISO: out = out_proj(y silu(z));  MIMO: out = out_proj(sum_r o_r y_r silu(z_r z))

``mimo_rank = 0`` is SISO (one channel, x_r = x). ``mimo_rank = R >= 1`` is MIMO: x_r = x w_r per head and
channel (w init 1/R), z_r = z m_r (init 1), o_r init 1/R, and B, C carry R channels each. Rotary covers the
first ``rope_fraction * d_state`` state dims (pairs (2i, 2i+1)); ``rope_fraction`` is 0.5 or 1 as upstream.
Defaults are mamba_ssm's: d_state 128, expand 2, headdim 64, ngroups 1, rope_fraction 0.5, A_floor 1e-4, dt init
as Mamba (softplus(dt_bias) log-uniform in [1e-3, 1e-1]), D = 1, mimo_rank 4 when MIMO is on.

The exact step carries (phi, h, k_prev, v_prev): the rotation angle, the SSM state and the previous token's
rotated B and input, which the trapezoidal rule mixes into the next update.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from rnnzoo.mixers.base import Mixer, MixerConfig, State
from rnnzoo.mixers.norms import GatedRMSNorm
from rnnzoo.mixers.registry import register
from rnnzoo.mixers.ssm_init import at_least_float32, dt_bias_init, no_weight_decay
from rnnzoo.ops.mamba3 import mamba3
from rnnzoo.validate import at_least, positive


@dataclass
class Mamba3Config(MixerConfig):
    d_state: int = 128
    expand: int = 2
    headdim: int = 64
    ngroups: int = 1
    mimo_rank: int = 0  # 0: SISO; R >= 1: MIMO with R input/output channels per head (the paper uses 4)
    rope_fraction: float = 0.5  # share of the state dims rotated: 0.5 or 1.0
    A_floor: float = 1e-4  # A <= -A_floor
    chunk_size: int = 64
    dt_min: float = 1e-3
    dt_max: float = 1e-1
    dt_init_floor: float = 1e-4

    def __post_init__(self) -> None:
        super().__post_init__()
        at_least(self, 1, "d_state", "expand", "headdim", "ngroups", "chunk_size")
        at_least(self, 0, "mimo_rank")
        positive(self, "A_floor", "dt_min", "dt_max", "dt_init_floor")
        if self.rope_fraction not in (0.5, 1.0):
            raise ValueError(f"rope_fraction must be 0.5 or 1.0, got {self.rope_fraction}")
        if self.rope_angles < 1:
            raise ValueError(f"d_state={self.d_state} * rope_fraction={self.rope_fraction} leaves no pair to rotate")
        if self.dt_max < self.dt_min:
            raise ValueError(f"dt_max={self.dt_max} must be >= dt_min={self.dt_min}")
        d_inner = self.expand * self.d_model
        if d_inner % self.headdim:
            raise ValueError(f"expand*d_model={d_inner} must be divisible by headdim={self.headdim}")
        if (d_inner // self.headdim) % self.ngroups:
            raise ValueError(f"nheads={d_inner // self.headdim} must be divisible by ngroups={self.ngroups}")

    @property
    def rope_angles(self) -> int:
        """Rotated pairs of state dims (upstream rounds the rotated dims down to even)."""
        return int(self.d_state * self.rope_fraction) // 2


@register("mamba3")
class Mamba3(Mixer):
    """Mamba-3 mixer: trapezoidal SSM heads with data-dependent rotary on B and C, SISO or MIMO."""

    config_class = Mamba3Config
    paper = "Lahoti et al. 2026, Mamba-3: Improved Sequence Modeling using State Space Principles"
    state_formula = "nheads*(d_state*headdim + R*(d_state + headdim) + rope_angles), R = max(mimo_rank, 1)"
    fast_path = "one SSD over the rotated keys with trapezoid weights and a diagonal correction (rnnzoo.ops.mamba3)"
    fast_mode = "auto"

    def __init__(self, config: Mamba3Config):
        super().__init__(config)
        c = config
        self.d_inner = c.expand * c.d_model
        self.nheads = self.d_inner // c.headdim
        self.rank = max(c.mimo_rank, 1)
        self.bc_dim = c.ngroups * self.rank * c.d_state
        self.splits = [self.d_inner, self.d_inner, self.bc_dim, self.bc_dim, self.nheads, self.nheads, self.nheads,
                       c.rope_angles]
        self.in_proj = nn.Linear(c.d_model, sum(self.splits), bias=False)
        self.dt_bias = nn.Parameter(dt_bias_init(self.nheads, c.dt_min, c.dt_max, c.dt_init_floor))
        self.B_bias = nn.Parameter(torch.ones(self.nheads, self.rank, c.d_state))
        self.C_bias = nn.Parameter(torch.ones(self.nheads, self.rank, c.d_state))
        self.B_norm = GatedRMSNorm(c.d_state, eps=1e-5)
        self.C_norm = GatedRMSNorm(c.d_state, eps=1e-5)
        self.D = nn.Parameter(torch.ones(self.nheads))
        no_weight_decay(self.dt_bias, self.D)
        if c.mimo_rank:
            shape = (self.nheads, self.rank, c.headdim)
            self.mimo_x = nn.Parameter(torch.full(shape, 1.0 / self.rank))
            self.mimo_z = nn.Parameter(torch.ones(shape))
            self.mimo_o = nn.Parameter(torch.full(shape, 1.0 / self.rank))
        self.out_proj = nn.Linear(self.d_inner, c.d_model, bias=False)

    def init_state(self, batch_size, device=None, dtype=None) -> State:
        dtype = dtype or self._param_dtype()
        c, H, R = self.config, self.nheads, self.rank
        zeros = lambda *s: torch.zeros(batch_size, H, *s, device=device, dtype=dtype)  # noqa: E731
        return zeros(c.rope_angles), zeros(c.d_state, c.headdim), zeros(R, c.d_state), zeros(R, c.headdim)

    def _mix(self, u, state, mode):
        c = self.config
        Bt, T, _ = u.shape
        z, x, B, C, dd_dt, dd_A, lam, ang = self.in_proj(u).split(self.splits, dim=-1)
        z, x = (t.reshape(Bt, T, self.nheads, c.headdim) for t in (z, x))
        B, C = self._heads(B, self.B_norm, self.B_bias), self._heads(C, self.C_norm, self.C_bias)
        dt = F.softplus(dd_dt + at_least_float32(self.dt_bias))
        A = (-F.softplus(at_least_float32(dd_A))).clamp(max=-c.A_floor)
        theta = math.pi * torch.tanh(ang)[:, :, None, :] * dt[..., None]  # [B, T, H, rope_angles]
        xr = x[:, :, :, None] * self.mimo_x if c.mimo_rank else x[:, :, :, None]  # [B, T, H, R, P]
        y, final = mamba3(xr, A * dt, dt, torch.sigmoid(lam), B, C, theta, state, output_final_state=True, mode=mode,
                          chunk_size=c.chunk_size)
        y = y + self.D[:, None, None] * xr
        if c.mimo_rank:
            y = (y * F.silu(z[:, :, :, None] * self.mimo_z) * self.mimo_o).sum(3)
        else:
            y = y[:, :, :, 0] * F.silu(z)
        return self.out_proj(y.reshape(Bt, T, self.d_inner)), tuple(s.to(u.dtype) for s in final)

    def _heads(self, bc, norm, bias):
        """[B, T, R*ngroups*d_state] -> RMSNorm'd, per-head biased [B, T, H, R, d_state] (head i reads group
        i // (H / ngroups))."""
        c = self.config
        Bt, T, _ = bc.shape
        bc = norm(bc.reshape(Bt, T, self.rank, c.ngroups, c.d_state))
        bc = bc.repeat_interleave(self.nheads // c.ngroups, dim=3).transpose(2, 3)
        return bc + bias
