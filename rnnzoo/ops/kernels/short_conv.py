"""The compiled CPU short convolution (``csrc/short_conv.c``): a causal depthwise convolution over time with an
optional SiLU, channels last, forward in one pass and backward in two (the pre-activation recomputed, not
stored). Used by ``rnnzoo.mixers.short_conv.short_conv`` on CPU float32/float64; the ``F.conv2d`` form there is
the reference and the fallback.

Shapes: x [B, T, D] (unit channel stride), head [B, K-1, D] (the K-1 inputs before x), weight [D, K],
bias [D] or None -> y [B, T, D].
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

from rnnzoo.ops.kernels import native


class ShortConvFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, head, weight, bias, silu: bool):
        lib = native.require("short_conv", x, head, weight, bias)
        x = x if x.stride(-1) == 1 else x.contiguous()
        head, wt = head.contiguous(), weight.t().contiguous()  # [K-1, D] per row and [K, D]: few floats
        b, t, d = x.shape
        y = x.new_empty(b, t, d)
        fwd = native.function(lib, "short_conv_fwd", x.dtype)
        native.run_parallel(lambda b0, b1, _: fwd(*native.args(x, x.stride(0), x.stride(1), head, wt, bias, y, t, d,
                                                               wt.shape[0], silu, b0, b1)), b)
        ctx.save_for_backward(x, head, wt, bias)
        ctx.silu = silu
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, gy):
        x, head, wt, bias = ctx.saved_tensors
        lib = native.require("short_conv", x)
        b, t, d = x.shape
        k, n = wt.shape[0], native.workers(b)
        gy = gy.contiguous()
        dx, dhead = x.new_empty(b, t, d), torch.empty_like(head)
        dw, db = x.new_zeros(n, k, d), None if bias is None else x.new_zeros(n, d)
        dpre = x.new_empty(n, t, d)
        bwd = native.function(lib, "short_conv_bwd", x.dtype)

        def work(b0, b1, w):
            bwd(*native.args(x, x.stride(0), x.stride(1), head, wt, bias, gy, dx, dhead, dw[w],
                             None if db is None else db[w], dpre[w], t, d, k, ctx.silu, b0, b1))

        native.run_parallel(work, b)
        return dx, dhead, dw.sum(0).t(), None if db is None else db.sum(0), None


def short_conv(x: torch.Tensor, head: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
               silu: bool) -> torch.Tensor:
    """y [B, T, D] = (silu of) the causal depthwise convolution of x after head, by the compiled kernel."""
    return ShortConvFn.apply(x, head, weight, bias, silu)
