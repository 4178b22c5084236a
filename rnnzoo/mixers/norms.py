"""Normalisations shared by mixers and blocks.

``rms_norm`` is RMSNorm with a hand-written backward: torch's CPU RMSNorm is the composite
``x * rsqrt(mean(x^2) + eps) * w``, and autograd through it made the norms 10-17% of a training step of the
4-layer language models in docs/speed.md (LayerNorm, one native kernel, costs a fifth as much). On CPU
float32/float64 the function below runs the compiled kernel ``rnnzoo.ops.kernels.rms_norm`` (one pass over a row
each way); elsewhere it makes three passes over x forward and six backward; float16/bfloat16 take the composite
form.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from rnnzoo.ops.kernels import native
from rnnzoo.ops.kernels import rms_norm as rms_norm_kernel


class _RMSNorm(torch.autograd.Function):
    """y = x * r * w, r = rsqrt(mean(x^2 over the last dim) + eps); w broadcasts over x's trailing dims.
    On CPU float32/float64 the compiled kernel (``rnnzoo.ops.kernels.rms_norm``) does each direction in one
    pass over a row; elsewhere the PyTorch form below (its reference)."""

    @staticmethod
    def forward(ctx, x, weight, eps):
        ctx.native = native.available("rms_norm", x, weight)
        if ctx.native:
            x, d = x.contiguous(), x.shape[-1]
            y, r = rms_norm_kernel.forward(x.view(-1, d), weight.reshape(-1, d).contiguous(), eps)
            ctx.save_for_backward(x, weight, r)
            return y.view(x.shape)
        r = (x.pow(2).mean(-1, keepdim=True) + eps).rsqrt_()  # [..., 1]
        ctx.save_for_backward(x, weight, r)
        return x * r * weight

    @staticmethod
    def backward(ctx, g):
        x, weight, r = ctx.saved_tensors
        if ctx.native:
            d = x.shape[-1]
            dx, dw = rms_norm_kernel.backward(g.contiguous().view(-1, d), x.view(-1, d),
                                              weight.reshape(-1, d).contiguous(), r, ctx.needs_input_grad[1])
            return dx.view(x.shape), None if dw is None else dw.view(weight.shape), None
        xhat = x * r
        gw = g * weight
        # d/dx (x_i r) = r (delta_ij - xhat_i xhat_j / D): dx = r (gw - xhat mean(gw xhat))
        dx = torch.addcmul(gw, xhat, (gw * xhat).mean(-1, keepdim=True), value=-1).mul_(r)
        dw = None
        if ctx.needs_input_grad[1]:
            dw = (g * xhat).reshape(-1, *weight.shape).sum(0)
        return dx, dw, None


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float | None = None) -> torch.Tensor:
    """RMSNorm over x's last dim, scaled by ``weight`` (shape: x's trailing dims, broadcast over the rest).
    ``eps`` None: the machine epsilon of x's dtype (as ``nn.RMSNorm``). x: [..., D] -> [..., D]."""
    eps = torch.finfo(x.dtype).eps if eps is None else eps
    if not _fast_dtype(x, weight):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight
    return _RMSNorm.apply(x, weight, eps)


def _fast_dtype(x: torch.Tensor, weight: torch.Tensor) -> bool:
    return x.dtype in (torch.float32, torch.float64) and weight.dtype == x.dtype


class RMSNorm(nn.RMSNorm):
    """``nn.RMSNorm`` over the last dim (same parameters and state dict) on ``rms_norm``. x: [..., D] -> [..., D]."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.weight is None or len(self.normalized_shape) != 1 or not _fast_dtype(x, self.weight):
            return super().forward(x)
        return rms_norm(x, self.weight, self.eps)


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
        groups = self.weight.view(-1, self.group_size)
        y = rms_norm(x.reshape(*shape[:-1], *groups.shape), groups, self.eps).reshape(shape)
        return y if z is None else y * F.silu(z)
