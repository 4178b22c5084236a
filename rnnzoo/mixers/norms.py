"""Normalisations shared by mixers."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class GatedRMSNorm(nn.Module):
    """RMSNorm(x) * SiLU(z), normalised per group of ``group_size`` channels (Mamba-2's gated norm,
    GLA / Gated DeltaNet output norm). x, z: [..., dim] -> [..., dim]."""

    def __init__(self, dim: int, group_size: int | None = None, eps: float = 1e-6):
        super().__init__()
        self.group_size = group_size or dim
        if dim % self.group_size:
            raise ValueError(f"dim={dim} must be divisible by group_size={self.group_size}")
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        shape = x.shape
        xg = x.reshape(*shape[:-1], -1, self.group_size)
        xg = xg * torch.rsqrt(xg.pow(2).mean(-1, keepdim=True) + self.eps)
        y = xg.reshape(shape) * self.weight
        return y if z is None else y * F.silu(z)
