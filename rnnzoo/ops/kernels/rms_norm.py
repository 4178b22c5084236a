"""The compiled CPU RMSNorm (``csrc/rms_norm.c``): y = x r w, r = rsqrt(mean(x^2) + eps), forward and backward in
one pass over each row, rows split across torch's threads. Used by ``rnnzoo.mixers.norms.rms_norm`` on CPU
float32/float64; the PyTorch form there is the reference and the fallback.

Shapes: x [rows, d] contiguous, weight [groups, d] (row i takes weight row i % groups), r [rows].
"""

from __future__ import annotations

import torch

from rnnzoo.ops.kernels import native


def forward(x: torch.Tensor, weight: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """x [rows, d], weight [groups, d] -> (y [rows, d], r [rows])."""
    lib = native.require("rms_norm", x, weight)
    rows, d = x.shape
    y, r = torch.empty_like(x), x.new_empty(rows)
    fwd = native.function(lib, "rms_norm_fwd", x.dtype)
    native.run_parallel(lambda i0, i1, _: fwd(*native.args(x, weight, y, r, d, weight.shape[0], float(eps), i0, i1)),
                        rows)
    return y, r


def backward(g: torch.Tensor, x: torch.Tensor, weight: torch.Tensor, r: torch.Tensor,
             need_dw: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """g, x [rows, d], weight [groups, d], r [rows] -> (dx [rows, d], dweight [groups, d] or None)."""
    lib = native.require("rms_norm", x, weight)
    rows, d = x.shape
    dx = torch.empty_like(x)
    acc = x.new_zeros(native.workers(rows), *weight.shape) if need_dw else None
    bwd = native.function(lib, "rms_norm_bwd", x.dtype)

    def work(i0, i1, w):
        bwd(*native.args(g, x, weight, r, dx, None if acc is None else acc[w], d, weight.shape[0], i0, i1))

    native.run_parallel(work, rows)
    return dx, None if acc is None else acc.sum(0)


def gated_forward(x: torch.Tensor, z: torch.Tensor, weight: torch.Tensor, eps: float,
                  gate_first: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """x, z [..., d] (read in place where ``native.rows`` can), weight [groups, d] -> (y [..., d] contiguous,
    r [rows]): y = RMSNorm(x) w silu(z), or with ``gate_first`` RMSNorm(x silu(z)) w."""
    lib = native.require("rms_norm", x, z, weight)
    d = x.shape[-1]
    y = x.new_empty(x.shape)
    r = x.new_empty(y.numel() // d)
    x, mx, sx = native.rows(x)
    z, mz, sz = native.rows(z)
    fwd = native.function(lib, "gated_rms_norm_fwd", x.dtype)
    native.run_parallel(lambda i0, i1, _: fwd(*native.args(x, mx, sx, z, mz, sz, weight, y, r, d, weight.shape[0],
                                                           gate_first, float(eps), i0, i1)), r.numel())
    return y, r


def gated_backward(g: torch.Tensor, x: torch.Tensor, z: torch.Tensor, weight: torch.Tensor, r: torch.Tensor,
                   gate_first: bool, need_dw: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """g, x, z [..., d], weight [groups, d], r [rows] -> (dx, dz [..., d] contiguous, dweight [groups, d] or None)."""
    lib = native.require("rms_norm", x, z, weight)
    d, rows = x.shape[-1], r.numel()
    g = g.contiguous()
    dx, dz = x.new_empty(x.shape), z.new_empty(z.shape)
    x, mx, sx = native.rows(x)
    z, mz, sz = native.rows(z)
    acc = x.new_zeros(native.workers(rows), *weight.shape)  # computed in the same loop whether wanted or not
    scratch = x.new_empty(native.workers(rows), 2, d)
    bwd = native.function(lib, "gated_rms_norm_bwd", x.dtype)

    def work(i0, i1, w):
        bwd(*native.args(g, x, mx, sx, z, mz, sz, weight, r, dx, rows, rows * d, dz, rows, rows * d, acc[w], scratch[w], d,
                         weight.shape[0], gate_first, i0, i1))

    native.run_parallel(work, rows)
    return dx, dz, acc.sum(0) if need_dw else None
