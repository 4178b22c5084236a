"""Normalisations shared by mixers and blocks.

``rms_norm`` is RMSNorm with a hand-written backward: torch's CPU RMSNorm is the composite
``x * rsqrt(mean(x^2) + eps) * w``, and autograd through it made the norms 10-17% of a training step of the
4-layer language models in docs/speed.md (LayerNorm, one native kernel, costs a fifth as much). On CPU
float32/float64 the function below runs the compiled kernel ``rnnzoo.ops.kernels.rms_norm`` (one pass over a row
each way); elsewhere it makes three passes over x forward and six backward; float16/bfloat16 take the composite
form. ``gated_rms_norm`` (``GatedRMSNorm`` with a gate) likewise runs the norm, the weight and the SiLU gate in one
compiled pass forward and two backward, the gate read where it lies (a piece of a fused projection).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

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


class _GatedRMSNorm(torch.autograd.Function):
    """``gated_rms_norm`` by the compiled kernel (``rnnzoo.ops.kernels.rms_norm``): one pass over a row forward,
    two backward, the gate read in place (no SiLU, product or their gradients as separate passes)."""

    @staticmethod
    def forward(ctx, x, z, weight, eps, gate_first):
        y, r = rms_norm_kernel.gated_forward(x, z, weight, eps, gate_first)
        ctx.save_for_backward(x, z, weight, r)
        ctx.gate_first = gate_first
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        x, z, weight, r = ctx.saved_tensors
        dx, dz, dw = rms_norm_kernel.gated_backward(g, x, z, weight, r, ctx.gate_first, ctx.needs_input_grad[2])
        return dx, dz, dw, None, None


def gated_rms_norm(x: torch.Tensor, z: torch.Tensor, weight: torch.Tensor, eps: float,
                   norm_before_gate: bool = True) -> torch.Tensor:
    """RMSNorm(x) * w * SiLU(z), or with ``norm_before_gate=False`` RMSNorm(x * SiLU(z)) * w (Mamba-2's order), the
    norm over x's last dim. x, z: [..., D], weight [D] (or x's trailing dims) -> [..., D]. On CPU float32/float64
    the compiled kernel; elsewhere, and as its reference, the PyTorch form below."""
    if _fast_dtype(x, weight) and z.dtype == x.dtype and z.shape == x.shape and \
            native.available("rms_norm", x, z, weight):
        d = x.shape[-1]
        return _GatedRMSNorm.apply(x, z, weight.reshape(-1, d).contiguous(), eps, not norm_before_gate)
    if norm_before_gate:
        return rms_norm(x, weight, eps) * F.silu(z)
    return rms_norm(x * F.silu(z), weight, eps)


class GatedRMSNorm(nn.Module):
    """RMSNorm(x) * SiLU(z) (GLA / Gated DeltaNet output norm), or with ``norm_before_gate=False``
    RMSNorm(x * SiLU(z)) (Mamba-2's gated norm), normalised per group of ``group_size`` channels; without z a
    plain RMSNorm. x, z: [..., dim] -> [..., dim]."""

    def __init__(self, dim: int, group_size: int | None = None, eps: float = 1e-6, norm_before_gate: bool = True):
        super().__init__()
        self.group_size = group_size or dim
        if dim % self.group_size:
            raise ValueError(f"dim={dim} must be divisible by group_size={self.group_size}")
        self.eps = eps
        self.norm_before_gate = norm_before_gate
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        shape = x.shape
        groups = self.weight.view(-1, self.group_size)
        x = x.reshape(*shape[:-1], *groups.shape)
        if z is None:
            return rms_norm(x, groups, self.eps).reshape(shape)
        z = z.reshape(*shape[:-1], *groups.shape)
        return gated_rms_norm(x, z, groups, self.eps, self.norm_before_gate).reshape(shape)
