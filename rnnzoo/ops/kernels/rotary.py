"""The compiled CPU rotary embedding (``csrc/rotary.c``): the rotate-half rotation of each head's channel pairs in
one pass over a row, forward and backward (the rotation by minus the angle), rows split across torch's threads.
Used by ``rnnzoo.ops.rotary.apply_rotary`` on CPU float32/float64; the PyTorch form there (six elementwise
operators and a concatenation each way) is the reference and the fallback.

Shapes: x [B, T, H, D] with unit channel stride (the heads of a fused projection's piece are read in place, see
``native.rows``), cos, sin [B, T, D/2] -> y [B, T, H, D] contiguous.
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

from rnnzoo.ops.kernels import native


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, sign: float) -> torch.Tensor:
    """x [B, T, H, D], cos, sin [B, T, D/2] -> x rotated by sign * angle, [B, T, H, D] contiguous."""
    lib = native.require("rotary", x, cos, sin)
    cos, sin = cos.contiguous(), sin.contiguous()
    y = x.new_empty(x.shape)
    rows, (h, d) = x.numel() // x.shape[-1], x.shape[-2:]
    x, m, s = native.rows(x)
    fn = native.function(lib, "rotary", x.dtype)
    native.run_parallel(lambda i0, i1, _: fn(*native.args(x, m, s, cos, sin, y, h, d, float(sign), i0, i1)), rows)
    return y


class RotaryFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, cos, sin):
        ctx.save_for_backward(cos, sin)
        return rotate(x, cos, sin, 1.0)

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        cos, sin = ctx.saved_tensors
        return rotate(g, cos, sin, -1.0), None, None
