"""Initialisations shared by the selective state-space and gated-delta mixers (Mamba, Mamba-2, Hydra,
Gated DeltaNet, MoM): the dt bias of Mamba and the no-weight-decay hint read by rnnzoo.train.optim."""

from __future__ import annotations

import math

import torch
from torch import nn


def dt_bias_init(d_inner: int, dt_min: float, dt_max: float, floor: float) -> torch.Tensor:
    """Bias b with softplus(b) log-uniform in [dt_min, dt_max] (Mamba's dt init): b = dt + log(1 - e^-dt)."""
    dt = torch.exp(torch.rand(d_inner) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)).clamp(min=floor)
    return dt + torch.log(-torch.expm1(-dt))


def no_weight_decay(*params: nn.Parameter) -> None:
    for p in params:
        p._no_weight_decay = True
