"""The compiled CPU selective scan (``csrc/selective_scan.c``) as an autograd function: the core recurrence
``h_t = a_t h_{t-1} + delta_t u_t B_t, y_t = C_t . h_t`` with its hand-written backward. Bias, softplus, the D
skip and the z gate stay in PyTorch around it (``selective_scan`` mode ``"kernel"``).

Shapes as ``selective_scan``: u, delta [B, D, L] (any strides); A [D, N]; B, C [D, N], [B, N, L] or
[B, G, N, L]; h0 [B, D, N] or None. Returns (y [B, D, L] in u's layout, last state [B, D, N]).
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

from rnnzoo.ops.kernels import native

SEGMENT = 256  # time steps per cache block of the float32 kernel (a multiple of 16; see csrc/selective_scan.c)


def _bc_view(m: torch.Tensor, dim: int) -> tuple[torch.Tensor, int]:
    """B or C -> (a [b, G, L, N] tensor with N contiguous, channels per group D / G). [D, N] becomes
    [1, D, 1, N] (one group per channel); [B, N, L] one group."""
    if m.dim() == 2:
        return m.contiguous().view(1, dim, 1, m.shape[1]), 1
    if m.dim() == 3:
        return m.transpose(1, 2).contiguous().unsqueeze(1), dim
    return m.transpose(2, 3).contiguous(), dim // m.shape[1]


def _bc_grad(g: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Inverse of ``_bc_view`` for a gradient of its shape."""
    if like.dim() == 2:
        return g.view(like.shape)
    if like.dim() == 3:
        return g[:, 0].transpose(1, 2)
    return g.transpose(2, 3)


def _strides(t: torch.Tensor) -> list[int]:
    """Element strides, 0 along size-1 axes (the kernel indexes them with 0)."""
    return [s if n > 1 else 0 for n, s in zip(t.shape, t.stride())]


class KernelScanFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u, dt, A, B, C, h0, signed):
        lib = native.require("selective_scan", u)
        batch, dim, length = u.shape
        n = A.shape[1]
        if u.stride() != dt.stride():  # the kernel reads both with one set of strides
            u, dt = u.contiguous(), dt.contiguous()
        A = A.contiguous()
        Bk, gB = _bc_view(B, dim)
        Ck, gC = _bc_view(C, dim)
        h0c = None if h0 is None else h0.contiguous()
        y = torch.empty_like(u)  # u's layout: time-major stays time-major
        last = u.new_empty(batch, dim, n)
        seg = ctx.segment = SEGMENT  # read once: the backward pass must cut the same segments
        ckpt = u.new_empty(batch * dim, -(-length // seg), n)  # states at segment starts
        fwd = native.function(lib, "selective_scan_fwd", u.dtype)
        sB, sC = _strides(Bk), _strides(Ck)

        def work(c0, c1, _):
            fwd(*native.args(dim, length, n, signed, u, dt, *_strides(u), A, Bk, *sB[:3], gB, Ck, *sC[:3], gC,
                              h0c, y, *_strides(y), last, ckpt, seg, c0, c1))

        native.run_parallel(work, batch * dim)
        ctx.save_for_backward(u, dt, A, B, C, h0c, Bk, Ck, ckpt)
        ctx.signed = signed
        ctx.groups = gB, gC
        ctx.set_materialize_grads(False)
        return y, last

    @staticmethod
    @once_differentiable
    def backward(ctx, dy, dlast):
        u, dt, A, B, C, h0, Bk, Ck, ckpt = ctx.saved_tensors
        gB, gC = ctx.groups
        lib = native.require("selective_scan", u)
        batch, dim, length = u.shape
        n = A.shape[1]
        if dy is None:
            dy = u.new_zeros(()).expand(u.shape)
        dlast = None if dlast is None else dlast.contiguous()
        du, ddt = torch.empty_like(u), torch.empty_like(u)
        workers = native.workers(batch * dim)
        dA = A.new_zeros(workers, *A.shape)
        dB = Bk.new_zeros(workers, *Bk.shape)
        dC = Ck.new_zeros(workers, *Ck.shape)
        dh0 = None if h0 is None else torch.empty_like(h0)
        scratch = u.new_empty(workers, 2, max(length, ctx.segment), n)
        bwd = native.function(lib, "selective_scan_bwd", u.dtype)
        sB, sC = _strides(Bk), _strides(Ck)

        def work(c0, c1, i):
            bwd(*native.args(dim, length, n, ctx.signed, u, dt, *_strides(u), A, Bk, *sB[:3], gB, Ck, *sC[:3], gC,
                              h0, dy, *_strides(dy), dlast, du, ddt, *_strides(du), dA[i], dB[i], dC[i], dh0,
                              scratch[i], ckpt, ctx.segment, c0, c1))

        native.run_parallel(work, batch * dim)
        return (du, ddt, dA.sum(0), _bc_grad(dB.sum(0), B), _bc_grad(dC.sum(0), C), dh0, None)


def kernel_scan(u, delta, A, B, C, h0, signed):
    """(y [B, D, L], last [B, D, N]) by the compiled kernel; signature of ``selective_scan._reference``."""
    return KernelScanFn.apply(u, delta, A, B, C, h0, signed)
