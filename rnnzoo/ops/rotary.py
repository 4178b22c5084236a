"""Rotary position embedding (Su et al., RoFormer, 2021, eq. 34), rotate-half (GPT-NeoX) layout."""

from __future__ import annotations

import torch

from rnnzoo.ops._common import autocast_safe, upcast
from rnnzoo.ops.kernels import native
from rnnzoo.ops.kernels import rotary as rotary_kernel
from rnnzoo.ops.varlen import packable


@packable("apply_rotary")
@autocast_safe
def apply_rotary(x: torch.Tensor, positions: torch.Tensor, base: float = 10000.0) -> torch.Tensor:
    """Rotate channel pairs (i, i + D/2) of x by angle positions * base^(-2i/D).

    x: [B, T, H, D] with D even; positions: [B, T] absolute token indices. Returns [B, T, H, D] in x's dtype
    (computed in float32 at least: a bfloat16 angle would be off by whole radians past position 256).
    On CPU float32/float64 the compiled kernel (one pass over a row each way); elsewhere, and as its reference,
    the PyTorch form below.
    """
    if x.dim() != 4 or positions.shape != x.shape[:2]:
        raise ValueError(f"apply_rotary: x must be [B, T, H, D] and positions [B, T] with the same B, T, got x "
                         f"{tuple(x.shape)}, positions {tuple(positions.shape)}")
    dtype = x.dtype
    (x,) = upcast(x, op="apply_rotary")
    d = x.shape[-1]
    if d % 2:
        raise ValueError(f"rotary needs an even head dim, got {d}")
    inv_freq = base ** (-torch.arange(0, d, 2, device=x.device, dtype=x.dtype) / d)
    angle = positions.to(x.dtype)[..., None] * inv_freq  # [B, T, D/2]
    if native.available("rotary", x):
        return rotary_kernel.RotaryFn.apply(x, angle.cos(), angle.sin()).to(dtype)
    cos, sin = angle.cos()[:, :, None], angle.sin()[:, :, None]
    x1, x2 = x[..., : d // 2], x[..., d // 2:]
    return torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1).to(dtype)
