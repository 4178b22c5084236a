"""The compiled CPU recurrence of xLSTM's mLSTM cell (``csrc/mlstm.c``) as an autograd function: the stabilised loop
``m_t = max(f_t + m_{t-1}, i_t)``, ``C_t = fw C_{t-1} + iw k_t v_tᵀ``, ``n_t = fw n_{t-1} + iw k_t``,
``h_t = C_tᵀ q_t / (max(|n_tᵀ q_t|, exp(-m_t)) + eps)`` of ``rnnzoo/ops/mlstm.py`` with its hand-written backward
(gradients through m as autograd takes them through the loop). It is the ``"kernel"`` mode of ``mlstm``.

Shapes: q, k [B, T, H, K] (q already scaled); v [B, T, H, V]; i, f [B, T, H]; c0 [B, H, K, V], n0 [B, H, K],
m0 [B, H]. Returns (h [B, T, H, V], C_T [B, H, K, V], n_T [B, H, K], m_T [B, H]).
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

from rnnzoo.ops.kernels import native, segmented

SEGMENT = 64  # steps between saved states: the backward pass recomputes [SEGMENT + 1, K, V] at a time


def fits(q: torch.Tensor, v: torch.Tensor) -> bool:
    """The size rule of ``"auto"`` (see ``kernels.resolve``): K and V (last dims of q and v) multiples of 16 with
    V <= 256 (the vectorised loops) and K * V <= 256 * 256."""
    dk, dv = q.shape[-1], v.shape[-1]
    return dk % 16 == 0 and dv % 16 == 0 and dv <= 256 and dk * dv <= 256 * 256


def _work_size(dk: int, dv: int, seg: int) -> int:
    """Floats of backward scratch per thread (see the entry points of csrc/mlstm.c)."""
    return (seg + 1) * (dk * dv + dk) + 2 * dk * 16 + 2 * dk + dv


class KernelFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, i, f, c0, n0, m0, eps):
        lib = native.require("mlstm", q, k, v, i, f, c0, n0, m0)
        q, k, v, i, f, c0, n0, m0 = (t.contiguous() for t in (q, k, v, i, f, c0, n0, m0))
        batch, length, heads, dk = q.shape
        dv = v.shape[-1]
        seg = ctx.segment = SEGMENT  # read once: the backward pass must cut the same segments
        o, c, ckpt = segmented.outputs(v, batch, length, heads, dk, dv, seg)
        n, m = v.new_empty(n0.shape), v.new_empty(m0.shape)
        mt, den = v.new_empty(i.shape), v.new_empty(i.shape)
        ckn = v.new_empty(batch * heads, ckpt.shape[1], dk)
        segmented.launch(lib, "mlstm_fwd", v, batch * heads,
                         (heads, length, dk, dv, float(eps), q, k, v, i, f, c0, n0, m0, o, c, n, m, mt, den, ckpt, ckn,
                          seg), (dk * dv + dk,))
        ctx.eps = eps
        ctx.save_for_backward(q, k, v, i, f, m0, o, mt, den, ckpt, ckn)
        ctx.set_materialize_grads(False)
        return o, c, n, m

    @staticmethod
    @once_differentiable
    def backward(ctx, do, dc, dn, dm):
        q, k, v, i, f, m0, o, mt, den, ckpt, ckn = ctx.saved_tensors
        lib = native.require("mlstm", q)
        batch, length, heads, dk = q.shape
        dv_, seg = v.shape[-1], ctx.segment
        do = torch.zeros_like(o) if do is None else do.contiguous()
        dc, dn, dm = (None if t is None else t.contiguous() for t in (dc, dn, dm))
        dq, dk_, dv, di, df = (torch.empty_like(t) for t in (q, k, v, i, f))
        dc0, dn0, dm0 = (q.new_empty(batch, heads, dk, dv_), q.new_empty(batch, heads, dk), torch.empty_like(m0))
        segmented.launch(lib, "mlstm_bwd", v, batch * heads,
                         (heads, length, dk, dv_, float(ctx.eps), q, k, v, i, f, m0, o, mt, den, ckpt, ckn, seg, do, dc,
                          dn, dm, dq, dk_, dv, di, df, dc0, dn0, dm0), (dk * dv_ + dk, _work_size(dk, dv_, seg)))
        return dq, dk_, dv, di, df, dc0, dn0, dm0, None


def kernel_recurrence(q, k, v, i, f, c0, n0, m0, eps):
    """(h [B, T, H, V], (C_T, n_T, m_T)) by the compiled kernel (q already scaled)."""
    o, c, n, m = KernelFn.apply(q, k, v, i, f, c0, n0, m0, eps)
    return o, (c, n, m)
