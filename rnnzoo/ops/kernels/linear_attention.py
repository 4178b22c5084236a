"""The compiled CPU recurrence of decayed linear attention (``csrc/linear_attention.c``) as an autograd
function: ``S_t = diag(exp(g_t)) S_{t-1} + k_t v_t^T, o_t = S_t^T q_t`` with its hand-written backward. It is
the ``"kernel"`` mode of ``simple_gla`` (and so of ``linear_attention``, ``ssd`` and ``signed_ssd``, which run
``simple_gla_core``), with one decay per head and step, and of ``gla``, with one per key channel.

Shapes: q, k [B, T, H, K] (q already scaled); v [B, T, H, V]; g [B, T, H] or [B, T, H, K]; s0 [B, H, K, V]
or None. Returns (o [B, T, H, V], S_T [B, H, K, V]).
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

from rnnzoo.ops.kernels import native

SEGMENT = 64  # steps between saved states: the backward pass recomputes [SEGMENT, K, V] at a time


def fits(q: torch.Tensor, v: torch.Tensor) -> bool:
    """The size rule of ``"auto"`` (see ``kernels.resolve``): K and V (last dims of q and v) multiples of 16 (the
    vectorised loops) with K * V <= 256 * 256 (measured: as fast as the chunk form at 256 x 256, faster below)."""
    dk, dv = q.shape[-1], v.shape[-1]
    return dk % 16 == 0 and dv % 16 == 0 and dk * dv <= 256 * 256


def _work_size(dk: int, dv: int, seg: int) -> int:
    """Floats of backward scratch per thread (see the entry points of csrc/linear_attention.c)."""
    return max(seg * dk * dv, (seg + 1) * 256 + seg * dk + seg * 768 + seg * 16)


class KernelFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, g, s0):
        lib = native.require("linear_attention", q, k, v, g, s0)
        q, k, v, g = (t.contiguous() for t in (q, k, v, g))
        s0 = None if s0 is None else s0.contiguous()
        batch, length, heads, dk = q.shape
        dv = v.shape[-1]
        seg = ctx.segment = SEGMENT  # read once: the backward pass must cut the same segments
        o = v.new_empty(v.shape)
        s = v.new_empty(batch, heads, dk, dv)
        ckpt = v.new_empty(batch * heads, -(-length // seg), dk, dv)
        workers = native.workers(batch * heads)
        scratch = v.new_empty(workers, dk * dv + seg * dk)
        fwd = native.function(lib, "linear_attention_fwd", v.dtype)
        per_key = g.dim() == 4

        def work(i0, i1, w):
            fwd(*native.args(heads, length, dk, dv, per_key, q, k, v, g, s0, o, s, ckpt, seg, i0, i1, scratch[w]))

        native.run_parallel(work, batch * heads)
        ctx.save_for_backward(q, k, v, g, s0, ckpt)
        ctx.set_materialize_grads(False)
        return o, s

    @staticmethod
    @once_differentiable
    def backward(ctx, do, ds):
        q, k, v, g, s0, ckpt = ctx.saved_tensors
        lib = native.require("linear_attention", q)
        batch, length, heads, dk = q.shape
        dv_, seg = v.shape[-1], ctx.segment
        do = torch.zeros_like(v) if do is None else do.contiguous()
        ds = None if ds is None else ds.contiguous()
        dq, dk_, dv, dg = (torch.empty_like(t) for t in (q, k, v, g))
        ds0 = None if s0 is None else torch.empty_like(s0)
        workers = native.workers(batch * heads)
        scratch = v.new_empty(workers, dk * dv_ + seg * dk)
        work_buf = v.new_empty(workers, _work_size(dk, dv_, seg))
        bwd = native.function(lib, "linear_attention_bwd", v.dtype)
        per_key = g.dim() == 4

        def work(i0, i1, w):
            bwd(*native.args(heads, length, dk, dv_, per_key, q, k, v, g, s0, ckpt, seg, do, ds, dq, dk_, dv, dg,
                              ds0, work_buf[w], i0, i1, scratch[w]))

        native.run_parallel(work, batch * heads)
        return dq, dk_, dv, dg, ds0


def kernel_recurrence(q, k, v, g, s0):
    """(o [B, T, H, V], S_T [B, H, K, V]) by the compiled kernel (q already scaled; s0 may be None)."""
    return KernelFn.apply(q, k, v, g, s0)
