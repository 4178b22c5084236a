"""``simple_gla``: linear attention with a scalar, data-dependent decay per head and step.

    S_t = exp(g_t) S_{t-1} + k_t v_tᵀ,     o_t = S_tᵀ (scale · q_t)

with ``g_t <= 0`` (log space). This one recurrence is RetNet's retention (fixed g per head; Sun et al.
2023, eq. 1-2), Lightning Attention-2 / TransNormerLLM's decayed linear attention, Mamba-2's SSD
(Dao & Gu 2024, eq. 1 with scale=1) and the Gated RetNet / simple GLA of flash-linear-attention; with
g = 0 it is plain linear attention (Katharopoulos et al. 2020).

Modes: ``"recurrent"`` is the loop above. ``"kernel"`` is the same loop compiled for CPU
(``kernels/csrc/linear_attention.c``, built on first use) with a hand-written backward, and ``"auto"`` takes
it for CPU tensors whose K and V are multiples of 16 wherever a C compiler is present (``kernels.resolve``
with ``kernels.linear_attention.fits``), else ``"chunk"``. ``"chunk"`` is the chunkwise form (Yang et al.
2024, GLA, sec. 3.3 / Dao & Gu 2024, sec. 6): for tokens i >= j of one chunk with in-chunk cumulative log decays
b, the weight is exp(b_i - b_j) <= 1; the states entering the chunks are passed by a loop over chunks
(``pass_states``).
"""

from __future__ import annotations

import torch

from rnnzoo.ops import kernels
from rnnzoo.ops._chunk import (
    check_qkv,
    detach_decay,
    final_state_decay_grad,
    from_chunks,
    pass_states,
    segsum,
    to_chunks,
)
from rnnzoo.ops._common import autocast_safe, check_chunk_size, check_mode, upcast
from rnnzoo.ops._scalar_chunk import direct_ok, scalar_decay_chunk
from rnnzoo.ops.kernels import linear_attention as kernel
from rnnzoo.ops.kernels import upstream
from rnnzoo.ops.varlen import packable

MODES = ("recurrent", "chunk", "kernel", "auto")
KERNEL = "linear_attention"  # the compiled CPU kernel (rnnzoo/ops/kernels) of the "kernel" mode


@packable("simple_gla")
@autocast_safe
def simple_gla(q, k, v, g, scale=None, initial_state=None, output_final_state=False, mode="auto",
               chunk_size=64):
    """q, k: [B, T, H, K]; v: [B, T, H, V]; g: [B, T, H] log decay (<= 0); initial_state: [B, H, K, V].

    scale=None means K**-0.5. Returns (o [B, T, H, V] in q's dtype, S_T [B, H, K, V] float32 (float64 for
    float64 inputs) or None).
    """
    check_mode("simple_gla", mode, MODES)
    check_qkv(q, k, v, initial_state, "simple_gla")
    if g.shape != q.shape[:3]:
        raise ValueError(f"simple_gla: g must be [B, T, H]={list(q.shape[:3])}, got {tuple(g.shape)}")
    check_chunk_size("simple_gla", chunk_size)
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    if (fn := upstream.dispatch("simple_gla", mode, q)) is not None:  # CUDA with flash-linear-attention
        return fn(q, k, v, g, scale=scale, initial_state=initial_state, output_final_state=output_final_state)
    o, s = simple_gla_core(q, k, v, g, scale, initial_state, mode, chunk_size, op="simple_gla")
    return o.to(q.dtype), (s if output_final_state else None)


def simple_gla_core(q, k, v, g, scale, initial_state, mode, chunk_size, decay_grad_identity=True, op="simple_gla"):
    """Unchecked body shared with linear_attention and ssd; returns float (o, S_T).

    ``decay_grad_identity=False`` takes dg by autograd through the decay masks instead of the identity of
    ``detach_decay``: exact zeros stay zeros, which matters when g is itself a log of a transition that may
    be tiny (signed_ssd), since d log|a| / da = 1/a would amplify the identity's rounding."""
    q, k, v, g, s0 = upcast(q, k, v, g, initial_state, op=op)
    b, t, h, dk = q.shape
    mode = kernels.resolve(mode, KERNEL, q, k, v, g, s0, fits=kernel.fits(q, v))
    q = q if isinstance(scale, (int, float)) and scale == 1 else q * scale  # ssd's scale 1: no pass over q each way
    if mode == "kernel":
        return kernel.kernel_recurrence(q, k, v, g, s0)
    s = s0 if s0 is not None else q.new_zeros(b, h, dk, v.shape[-1])
    if mode == "recurrent":
        return _recurrent(q, k, v, g, s)
    return _chunk(q, k, v, g, s, chunk_size, decay_grad_identity)


def _recurrent(q, k, v, g, s):
    # steps by unbind: indexing [:, t] would make backward add a full-size zero gradient per step (O(T^2))
    out = []
    for q_t, k_t, v_t, g_t in zip(q.unbind(1), k.unbind(1), v.unbind(1), g.unbind(1)):
        s = g_t[:, :, None, None].exp() * s + k_t[:, :, :, None] * v_t[:, :, None, :]
        out.append(torch.einsum("bhk,bhkv->bhv", q_t, s))
    return torch.stack(out, 1), s


def _chunk(q, k, v, g_in, s, chunk_size, decay_grad_identity=True):
    if decay_grad_identity and direct_ok(g_in, min(chunk_size, q.shape[1])):
        q, k, g = detach_decay(q, k, g_in)  # dg by identity; q, k, v, s0 by the hand-written backward
        o, s = scalar_decay_chunk(q, k, v, g, s, chunk_size)
        return o, final_state_decay_grad(s, g_in)
    return _autograd_chunk(q, k, v, g_in, s, chunk_size, decay_grad_identity)


def _autograd_chunk(q, k, v, g_in, s, chunk_size, decay_grad_identity=True):
    """The same chunk form by autograd through exp(segsum) decay masks: any decay span, and dg without
    the identity (``decay_grad_identity=False``)."""
    q, k, g = detach_decay(q, k, g_in) if decay_grad_identity else (q, k, g_in)  # dg by identity
    t, c = q.shape[1], min(chunk_size, q.shape[1])
    q, k, v = (to_chunks(x, c) for x in (q, k, v))  # [B, H, N, C, D]
    g = to_chunks(g, c)  # [B, H, N, C]
    seg = segsum(g)  # [B, H, N, C, C]
    o = ((q @ k.transpose(-1, -2)) * seg.exp()) @ v
    b = g.cumsum(-1)  # log decay from the chunk start to token i, inclusive
    states, s = pass_states(k * seg[..., -1, :, None].exp(), v, b[..., -1:], s)
    o = o + (q * b[..., None].exp()) @ states
    return from_chunks(o, t), (final_state_decay_grad(s, g_in) if decay_grad_identity else s)

