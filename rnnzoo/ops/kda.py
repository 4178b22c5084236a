"""Delta rules with a per-key-channel decay: ``gdn2`` (Gated DeltaNet-2, with channel-wise erase and write gates)
and ``kda`` (Kimi Delta Attention, Kimi Team 2025, Kimi Linear: An Expressive, Efficient Attention Architecture,
its KDA recurrence), which is ``gdn2`` with b = w = beta. With the state S [K, V] per head:

    gdn2:  S_t = (I - k_t (b_t ⊙ k_t)ᵀ) diag(exp(g_t)) S_{t-1} + k_t (w_t ⊙ v_t)ᵀ,      o_t = S_tᵀ (scale q_t)
    kda:   S_t = (I - beta_t k_t k_tᵀ) diag(exp(g_t)) S_{t-1} + beta_t k_t v_tᵀ

g <= 0 (log space) per key channel, b [K] and w [V] per step (the erase and write gates), beta one per head and step.
With g equal over the channels of a head, kda is ``gated_delta_rule``. Ops never normalise q, k (the mixers do).

``mode="chunk"`` is ``dplr_delta_rule``'s chunk form: the transition (I - k (b ⊙ k)ᵀ) D reads the decayed state
through (b ⊙ k)ᵀ D S = (exp(g) ⊙ b ⊙ k)ᵀ S, so gdn2 is the DPLR rule with a = exp(g) ⊙ b ⊙ k, b' = -k,
values w ⊙ v and the same decay gk = g.

``mode="kernel"`` is the loop compiled for CPU (``kernels/csrc/delta_rule.c``, the delta-rule family's kernel with
one decay per key channel, erase vector b ⊙ k and value w ⊙ v) with a hand-written backward; ``"auto"`` (the
default) takes it for CPU float32/float64 tensors whose K and V are multiples of 16 (V <= 256) wherever a C compiler
is present (``kernels.resolve`` with ``kernels.delta_rule.fits``), else ``"chunk"``.
"""

from __future__ import annotations

import torch

from rnnzoo.ops import kernels
from rnnzoo.ops._common import autocast_safe, check_chunk_size, check_mode, upcast
from rnnzoo.ops.dplr import dplr_delta_rule
from rnnzoo.ops.kernels import delta_rule as kernel
from rnnzoo.ops.varlen import packable

MODES = ("recurrent", "chunk", "kernel", "auto")
KERNEL = "delta_rule"  # the compiled CPU kernel (rnnzoo/ops/kernels) of the "kernel" mode


def _check(op, q, k, v, g, initial_state, mode, chunk_size):
    check_mode(op, mode, MODES)
    check_chunk_size(op, chunk_size)
    if q.dim() != 4 or v.dim() != 4 or q.shape[1] == 0 or k.shape != q.shape or v.shape[:3] != q.shape[:3]:
        raise ValueError(f"{op}: q, k must be [B, T, H, K] and v [B, T, H, V] with T >= 1, got q {tuple(q.shape)}, "
                         f"k {tuple(k.shape)}, v {tuple(v.shape)}")
    if g.shape != q.shape:
        raise ValueError(f"{op}: g must be [B, T, H, K] like q {tuple(q.shape)}, got {tuple(g.shape)}")
    bt, _, h, dk = q.shape
    if initial_state is not None and tuple(initial_state.shape) != (bt, h, dk, v.shape[-1]):
        raise ValueError(f"{op}: initial_state must be [B, H, K, V]={[bt, h, dk, v.shape[-1]]}, "
                         f"got {tuple(initial_state.shape)}")


def _recurrent(q, k, v, g, b, w, s):
    """The loop of the equation (steps by unbind: indexing [:, t] makes backward O(T^2))."""
    out = []
    for q_t, k_t, v_t, g_t, b_t, w_t in zip(*(x.unbind(1) for x in (q, k, v, g, b, w))):
        s = g_t.exp()[..., None] * s
        # (I - k (b ⊙ k)ᵀ) S + k (w ⊙ v)ᵀ  ==  S + k (w ⊙ v - Sᵀ (b ⊙ k))ᵀ
        s = s + k_t[..., None] * (w_t * v_t - torch.einsum("bhkv,bhk->bhv", s, b_t * k_t))[..., None, :]
        out.append(torch.einsum("bhk,bhkv->bhv", q_t, s))
    return torch.stack(out, 1), s


def _run(op, q, k, v, g, b, w, scale, initial_state, output_final_state, mode, chunk_size):
    dtype = q.dtype
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    q, k, v, g, b, w, s0 = upcast(q, k, v, g, b, w, initial_state, op=op)
    mode = kernels.resolve(mode, KERNEL, q, k, v, g, b, w, s0, fits=kernel.fits(q, v))
    if mode == "kernel":
        o, s = kernel.kernel_recurrence(q * scale, k, b * k, w * v, g, s0)
    elif mode == "chunk":
        o, s = dplr_delta_rule(q, k, w * v, g.exp() * b * k, -k, g, scale=scale, initial_state=s0,
                               output_final_state=True, mode="chunk", chunk_size=chunk_size)
    else:
        bt, _, h, dk = q.shape
        s0 = q.new_zeros(bt, h, dk, v.shape[-1]) if s0 is None else s0
        o, s = _recurrent(q * scale, k, v, g, b, w, s0)
    return o.to(dtype), (s if output_final_state else None)


@packable("gdn2")
@autocast_safe
def gdn2(q, k, v, g, b, w, scale=None, initial_state=None, output_final_state=False, mode="auto", chunk_size=64):
    """Gated DeltaNet-2: S_t = (I - k_t (b_t ⊙ k_t)ᵀ) diag(exp(g_t)) S_{t-1} + k_t (w_t ⊙ v_t)ᵀ, o_t = S_tᵀ (scale q_t).

    q, k: [B, T, H, K]; g (log decay, <= 0), b (erase gate): [B, T, H, K]; v, w (write gate): [B, T, H, V];
    initial_state: [B, H, K, V]. scale=None means K**-0.5.
    Returns (o [B, T, H, V] in q's dtype, S_T [B, H, K, V] float32 (float64 for float64 inputs) or None).
    """
    _check("gdn2", q, k, v, g, initial_state, mode, chunk_size)
    if b.shape != q.shape or w.shape != v.shape:
        raise ValueError(f"gdn2: b must be [B, T, H, K] like q {tuple(q.shape)} and w [B, T, H, V] like v "
                         f"{tuple(v.shape)}, got b {tuple(b.shape)}, w {tuple(w.shape)}")
    return _run("gdn2", q, k, v, g, b, w, scale, initial_state, output_final_state, mode, chunk_size)


@packable("kda")
@autocast_safe
def kda(q, k, v, g, beta, scale=None, initial_state=None, output_final_state=False, mode="auto", chunk_size=64):
    """Kimi Delta Attention: S_t = (I - beta_t k_t k_tᵀ) diag(exp(g_t)) S_{t-1} + beta_t k_t v_tᵀ, o_t = S_tᵀ (scale q_t);
    ``gdn2`` with b = w = beta.

    q, k, g (log decay, <= 0): [B, T, H, K]; v: [B, T, H, V]; beta: [B, T, H]; initial_state: [B, H, K, V].
    Returns (o [B, T, H, V] in q's dtype, S_T [B, H, K, V] float32 (float64 for float64 inputs) or None).
    """
    _check("kda", q, k, v, g, initial_state, mode, chunk_size)
    if beta.shape != q.shape[:3]:
        raise ValueError(f"kda: beta must be [B, T, H]={list(q.shape[:3])}, got {tuple(beta.shape)}")
    beta = beta[..., None]
    return _run("kda", q, k, v, g, beta.expand_as(k), beta.expand_as(v), scale, initial_state, output_final_state,
                mode, chunk_size)
