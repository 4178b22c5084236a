"""The compiled CPU recurrence of the DPLR delta rule (``csrc/dplr.c``) as an autograd function: per token the read
``u_t = S_{t-1}ᵀ a_t`` (before the decay), ``S_t = diag(exp(gk_t)) S_{t-1} + b_t u_tᵀ + k_t v_tᵀ`` and
``o_t = S_tᵀ q_t``, with its hand-written backward. It is the ``"kernel"`` mode of ``dplr_delta_rule`` and
``iplr_delta_rule`` (gk None: no decay), hence of ``comba``.

The decays exp(gk) are taken here by torch (one vectorised exp, the values the reference loop uses), and the
kernel returns dgk = exp(gk) . dL/d exp(gk).

Shapes: q (already scaled), k, a, b [B, T, H, K]; v [B, T, H, V]; gk None or [B, T, H, K]; s0 [B, H, K, V] or None.
Returns (o [B, T, H, V], S_T [B, H, K, V]).
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

from rnnzoo.ops.kernels import native, segmented
from rnnzoo.ops.kernels.delta_rule import fits  # noqa: F401 (the same vectorised loops: the same size rule)

SEGMENT = 32  # tokens between saved states: the backward pass recomputes [SEGMENT + 1, K, V] at a time


def _scratch_size(dk: int, dv: int) -> int:
    return dk * dv + dk + 2 * dv


def _work_size(dk: int, dv: int, seg: int) -> int:
    """Floats of backward scratch per thread (see the entry points of csrc/dplr.c)."""
    return (seg + 1) * dk * dv + seg * dv + 2 * dv + 5 * dk * 16


class KernelFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, a, b, gk, s0):
        lib = native.require("dplr", q, k, v, a, b, gk, s0)
        q, k, v, a, b = (t.contiguous() for t in (q, k, v, a, b))
        s0 = None if s0 is None else s0.contiguous()
        w = None if gk is None else gk.exp().contiguous()  # the decays: torch's vectorised exp, the loop's values
        batch, length, heads, dk = q.shape
        dv = v.shape[-1]
        seg = ctx.segment = SEGMENT  # read once: the backward pass must cut the same segments
        o, s, ckpt = segmented.outputs(v, batch, length, heads, dk, dv, seg)
        segmented.launch(lib, "dplr_fwd", v, batch * heads, (heads, length, dk, dv, q, k, v, a, b, w, s0, o, s, ckpt, seg),
                         (_scratch_size(dk, dv),))
        ctx.save_for_backward(q, k, v, a, b, w, s0, ckpt)
        ctx.set_materialize_grads(False)
        return o, s

    @staticmethod
    @once_differentiable
    def backward(ctx, do, ds):
        q, k, v, a, b, w, s0, ckpt = ctx.saved_tensors
        lib = native.require("dplr", q)
        batch, length, heads, dk = q.shape
        dv, seg = v.shape[-1], ctx.segment
        do = v.new_zeros(batch, length, heads, dv) if do is None else do.contiguous()
        ds = None if ds is None else ds.contiguous()
        dq, dk_, dv_, da, db = (torch.empty_like(t) for t in (q, k, v, a, b))
        dgk = None if w is None else torch.empty_like(w)
        ds0 = None if s0 is None else torch.empty_like(s0)
        segmented.launch(lib, "dplr_bwd", v, batch * heads,
                         (heads, length, dk, dv, q, k, v, a, b, w, ckpt, seg, do, ds, dq, dk_, dv_, da, db, dgk, ds0),
                         (_scratch_size(dk, dv), _work_size(dk, dv, seg)))
        return dq, dk_, dv_, da, db, dgk, ds0


def kernel_recurrence(q, k, v, a, b, gk, s0):
    """(o [B, T, H, V], S_T [B, H, K, V]) by the compiled kernel (q already scaled; gk and s0 may be None)."""
    return KernelFn.apply(q, k, v, a, b, gk, s0)
