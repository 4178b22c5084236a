"""Pieces shared by the selective state-space mixers (Mamba, Mamba-2, Hydra) and the gated-delta decay
(Gated DeltaNet, MoM): Mamba's dt bias and A inits, the no-weight-decay hint read by rnnzoo.train.optim,
and the config and head layout common to the Mamba-2 SSD mixers (Mamba-2, Hydra)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from rnnzoo.mixers.base import MixerConfig
from rnnzoo.validate import at_least, positive


def dt_bias_init(d_inner: int, dt_min: float, dt_max: float, floor: float) -> torch.Tensor:
    """Bias b with softplus(b) log-uniform in [dt_min, dt_max] (Mamba's dt init): b = dt + log(1 - e^-dt)."""
    dt = torch.exp(torch.rand(d_inner) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)).clamp(min=floor)
    return dt + torch.log(-torch.expm1(-dt))


def a_log_s4d_real(d_inner: int, d_state: int) -> torch.Tensor:
    """A_log [d_inner, d_state] with A = -exp(A_log) = -(1, ..., d_state) in every channel (S4D-real, Mamba-1)."""
    return torch.log(torch.arange(1, d_state + 1, dtype=torch.float32)).repeat(d_inner, 1)


def A_from_log(A_log: torch.Tensor) -> torch.Tensor:
    """A = -exp(A_log) < 0, in float32 at least whatever the module's dtype (float64 stays float64)."""
    return -torch.exp(at_least_float32(A_log))


def at_least_float32(p: torch.Tensor) -> torch.Tensor:
    """A sensitive parameter (A_log, D, dt bias) for an op: half precision upcast to float32, float64 kept (a
    downcast would round a float64 model's gradients to float32)."""
    return p.to(torch.promote_types(p.dtype, torch.float32))


def no_weight_decay(*params: nn.Parameter) -> None:
    for p in params:
        p._no_weight_decay = True


@dataclass
class SSDConfig(MixerConfig):
    """Fields of the Mamba-2 SSD mixers: expand*d_model channels in heads of headdim, B and C shared by
    ngroups groups of heads, a d_conv-wide conv over (x, B, C), and Mamba's dt init range."""

    d_state: int = 64
    expand: int = 2
    headdim: int = 64
    ngroups: int = 1
    d_conv: int = 4
    chunk_size: int = 64
    dt_min: float = 1e-3
    dt_max: float = 1e-1
    dt_init_floor: float = 1e-4

    def __post_init__(self) -> None:
        super().__post_init__()
        at_least(self, 1, "d_state", "expand", "headdim", "ngroups", "d_conv", "chunk_size")
        positive(self, "dt_min", "dt_max", "dt_init_floor")
        if self.dt_max < self.dt_min:
            raise ValueError(f"dt_max={self.dt_max} must be >= dt_min={self.dt_min}")
        d_inner = self.expand * self.d_model
        if d_inner % self.headdim:
            raise ValueError(f"expand*d_model={d_inner} must be divisible by headdim={self.headdim}")
        if (d_inner // self.headdim) % self.ngroups:
            raise ValueError(f"nheads={d_inner // self.headdim} must be divisible by ngroups={self.ngroups}")


def ssd_head_params(nheads: int, c: SSDConfig) -> tuple[nn.Parameter, nn.Parameter, nn.Parameter]:
    """(dt_bias, A_log, D), each [nheads], as Mamba-2 inits them: softplus(dt_bias) log-uniform in
    [dt_min, dt_max], -A = exp(A_log) uniform in [1, 16], D = 1; all marked no-weight-decay."""
    dt_bias = nn.Parameter(dt_bias_init(nheads, c.dt_min, c.dt_max, c.dt_init_floor))
    A_log = nn.Parameter(torch.log(torch.empty(nheads).uniform_(1, 16)))
    D = nn.Parameter(torch.ones(nheads))
    no_weight_decay(dt_bias, A_log, D)
    return dt_bias, A_log, D


def split_ssd_heads(xBC: torch.Tensor, c: SSDConfig) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """xBC [B, T, d_inner + 2*ngroups*d_state] -> x [B, T, H, headdim], B, C [B, T, H, d_state]
    (head i reads group i // (H / ngroups))."""
    Bt, T, _ = xBC.shape
    d_inner = c.expand * c.d_model
    nheads = d_inner // c.headdim
    x, B, C = xBC.split([d_inner, c.ngroups * c.d_state, c.ngroups * c.d_state], dim=-1)
    B = B.reshape(Bt, T, c.ngroups, c.d_state).repeat_interleave(nheads // c.ngroups, dim=2)
    C = C.reshape(Bt, T, c.ngroups, c.d_state).repeat_interleave(nheads // c.ngroups, dim=2)
    return x.reshape(Bt, T, nheads, c.headdim), B, C
