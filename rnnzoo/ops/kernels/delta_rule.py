"""The compiled CPU recurrence of the delta rule with decay (``csrc/delta_rule.c``) as an autograd function: per token
the decay ``S <- diag(exp(g_t)) S`` once, then ``n`` rank-1 rows ``S <- S + k (x - Sᵀ a)ᵀ``, then ``o_t = S_tᵀ q_t``,
with its hand-written backward. With the erase vector ``a = beta k`` and the value ``x = beta v`` it is the
``"kernel"`` mode of ``delta_rule``, ``gated_delta_rule`` and ``delta_product`` (``n`` Householder rows per token);
the products are formed by the caller, so the gradients of beta follow by autograd.

Shapes: q [B, T, H, K] (already scaled); k, a [B, T*n, H, K]; x [B, T*n, H, V]; g None, [B, T, H] or [B, T, H, K]
(one decay per key channel); s0 [B, H, K, V] or None. Returns (o [B, T, H, V], S_T [B, H, K, V]).
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

from rnnzoo.ops.kernels import native, segmented

SEGMENT = 32  # tokens between saved states: the backward pass recomputes [SEGMENT * n + 1, K, V] at a time


def fits(q: torch.Tensor, v: torch.Tensor) -> bool:
    """The size rule of ``"auto"`` (see ``kernels.resolve``): K and V (last dims of q and v) multiples of 16 with
    V <= 256 (the vectorised loops) and K * V <= 256 * 256."""
    dk, dv = q.shape[-1], v.shape[-1]
    return dk % 16 == 0 and dv % 16 == 0 and dv <= 256 and dk * dv <= 256 * 256


def _scratch_size(dk: int, dv: int) -> int:
    return dk * dv + 4 * dk + 2 * dv


def _work_size(dk: int, dv: int, seg: int, n: int) -> int:
    """Floats of backward scratch per thread (see the entry points of csrc/delta_rule.c)."""
    return (seg * n + 1) * dk * dv + seg * n * dv + 4 * dk * 16 + 2 * dv


class KernelFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, a, x, g, s0):
        lib = native.require("delta_rule", q, k, a, x, g, s0)
        q, k, a, x = (t.contiguous() for t in (q, k, a, x))
        s0 = None if s0 is None else s0.contiguous()
        per_key = g is not None and g.dim() == 4
        g = None if g is None else g.exp().contiguous()  # the decays: torch's vectorised exp, the loop's values
        batch, length, heads, dk = q.shape
        dv, n = x.shape[-1], k.shape[1] // length
        seg = ctx.segment = SEGMENT  # read once: the backward pass must cut the same segments
        o, s, ckpt = segmented.outputs(x, batch, length, heads, dk, dv, seg)
        segmented.launch(lib, "delta_rule_fwd", x, batch * heads,
                         (heads, length, n, dk, dv, per_key, q, k, a, x, g, s0, o, s, ckpt, seg), (_scratch_size(dk, dv),))
        ctx.save_for_backward(q, k, a, x, g, s0, ckpt)
        ctx.set_materialize_grads(False)
        return o, s

    @staticmethod
    @once_differentiable
    def backward(ctx, do, ds):
        q, k, a, x, g, s0, ckpt = ctx.saved_tensors
        lib = native.require("delta_rule", q)
        batch, length, heads, dk = q.shape
        dv, n, seg = x.shape[-1], k.shape[1] // length, ctx.segment
        do = q.new_zeros(batch, length, heads, dv) if do is None else do.contiguous()
        ds = None if ds is None else ds.contiguous()
        dq, dk_, da, dx = (torch.empty_like(t) for t in (q, k, a, x))
        dg = None if g is None else torch.empty_like(g)
        ds0 = None if s0 is None else torch.empty_like(s0)
        per_key = g is not None and g.dim() == 4
        segmented.launch(lib, "delta_rule_bwd", x, batch * heads,
                         (heads, length, n, dk, dv, per_key, q, k, a, x, g, ckpt, seg, do, ds, dq, dk_, da, dx, dg, ds0),
                         (_scratch_size(dk, dv), _work_size(dk, dv, seg, n)))
        return dq, dk_, da, dx, dg, ds0


def kernel_recurrence(q, k, a, x, g, s0):
    """(o [B, T, H, V], S_T [B, H, K, V]) by the compiled kernel (q already scaled; g and s0 may be None)."""
    return KernelFn.apply(q, k, a, x, g, s0)
