"""The compiled CPU L2 normalisation (``csrc/l2_norm.c``): y = x r, r = rsqrt(sum(x^2) + eps) over the last dim,
forward and backward in one pass over each row, rows split across torch's threads. Used by
``rnnzoo.mixers.parts.l2norm`` on CPU float32/float64; the PyTorch form there is the reference and the fallback.

Shapes: x [..., d] with unit channel stride (strided heads of a fused projection are read in place, see
``native.rows``) -> y [..., d] contiguous, r [rows] (rows = x.numel() / d).
"""

from __future__ import annotations

import torch

from rnnzoo.ops.kernels import native


def forward(x: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """x [..., d] -> (y [..., d] contiguous, r [rows])."""
    lib = native.require("l2_norm", x)
    d = x.shape[-1]
    y = x.new_empty(x.shape)
    r = x.new_empty(y.numel() // d)
    x, m, s = native.rows(x)
    fwd = native.function(lib, "l2_norm_fwd", x.dtype)
    native.run_parallel(lambda i0, i1, _: fwd(*native.args(x, m, s, y, r, d, float(eps), i0, i1)), r.numel())
    return y, r


def backward(g: torch.Tensor, y: torch.Tensor, r: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """g [..., d], y [..., d] contiguous, r [rows] -> dx [..., d], written into ``out`` (any layout
    ``native.rows`` reads in place, e.g. a slice of a larger gradient) when given, else a new contiguous tensor."""
    lib = native.require("l2_norm", g, y)
    d = y.shape[-1]
    dx = y.new_empty(y.shape) if out is None else out
    g, mg, sg = native.rows(g)
    written, mdx, sdx = native.rows(dx)
    if written is not dx or dx.shape != y.shape:
        raise ValueError(f"l2_norm.backward: out of shape {tuple(dx.shape)}, strides {dx.stride()} cannot be written "
                         f"in place as rows of y of shape {tuple(y.shape)}")
    bwd = native.function(lib, "l2_norm_bwd", y.dtype)
    native.run_parallel(lambda i0, i1, _: bwd(*native.args(g, mg, sg, y, r, dx, mdx, sdx, d, i0, i1)), r.numel())
    return dx
