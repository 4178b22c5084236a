"""``gsa``: Gated Slot Attention (Zhang et al. 2024, Gated Slot Attention for Efficient Linear-Time Sequence Modeling,
its recurrence): a bounded memory of M slots per head, written with forget gates alpha_t = exp(g_t) in (0, 1] and
s_t = 1 - alpha_t, and read by a softmax over the slots. With the key memory K~ [K, M] and value memory V~ [M, V]
(keys by rows, as every rnnzoo op):

    K~_t = K~_{t-1} diag(exp(g_t)) + k_t s_tᵀ            (pass 1: value-side decay)
    o'_t = softmax(K~_tᵀ (scale q_t))                    (over the M slots)
    V~_t = diag(exp(g_t)) V~_{t-1} + s_t v_tᵀ            (pass 2: key-side decay)
    o_t  = V~_tᵀ o'_t

so GSA is two passes of gated linear attention (as the paper trains it; flash-linear-attention's ``gsa`` with g given).
Pass 2 is the ``gla`` op with queries o', keys s and log decay g. Pass 1 decays the value side (the slots) of its
memory, which ``gla`` (decay on the key side) cannot express; its chunk form is here, ``gla``'s with the decay moved:
inside a chunk, o'_i = Σ_{j<=i} (q_i·k_j) s_j ⊙ exp(b_i - b_j) (b: in-chunk cumulative g per slot), so the decay
factors scale the slot vectors s_j and the output rows, never the q·k scores. Within DIRECT_MAX_SPAN nats per chunk
both factors are taken around the chunk's middle token (one masked matmul); beyond it by halving, each block pair
rescaled to the boundary between its halves, so every exponent is <= 0. Across chunks the state's transpose is a
``gla`` state (keys s, values k), passed by ``_chunk.pass_states``.
"""

from __future__ import annotations

import torch

from rnnzoo.ops._chunk import from_chunks, pass_states, to_chunks
from rnnzoo.ops._common import autocast_safe, check_chunk_size, check_mode, upcast
from rnnzoo.ops.gla import DIRECT_MAX_SPAN, _suffix, gla
from rnnzoo.ops.varlen import packable

MODES = ("recurrent", "chunk")


def _check(q, k, v, s, g, initial_state, mode, chunk_size):
    check_mode("gsa", mode, MODES)
    check_chunk_size("gsa", chunk_size)
    if chunk_size & (chunk_size - 1):
        raise ValueError(f"gsa: chunk_size must be a power of two, got {chunk_size}")
    if q.dim() != 4 or k.shape != q.shape or v.dim() != 4 or v.shape[:3] != q.shape[:3] or q.shape[1] == 0:
        raise ValueError(f"gsa: q, k must be [B, T, H, K] and v [B, T, H, V] with T >= 1, got q {tuple(q.shape)}, "
                         f"k {tuple(k.shape)}, v {tuple(v.shape)}")
    if s.dim() != 4 or s.shape[:3] != q.shape[:3] or g.shape != s.shape:
        raise ValueError(f"gsa: s and g must both be [B, T, H, M] with q's [B, T, H] {tuple(q.shape[:3])}, "
                         f"got s {tuple(s.shape)}, g {tuple(g.shape)}")
    if initial_state is not None:
        b, _, h, dk = q.shape
        m, dv = s.shape[-1], v.shape[-1]
        want = ((b, h, dk, m), (b, h, m, dv))
        if len(initial_state) != 2 or tuple(tuple(x.shape) for x in initial_state) != want:
            raise ValueError(f"gsa: initial_state must be (K~ [B, H, K, M], V~ [B, H, M, V]) = {want}, "
                             f"got {tuple(tuple(x.shape) for x in initial_state)}")


def _slots_recurrent(q, k, s, g, hk):
    """Pass 1 as the loop of its equation. q (scaled), k: [B, T, H, K]; s, g: [B, T, H, M]; hk: [B, H, K, M]."""
    out = []
    for q_t, k_t, s_t, g_t in zip(*(x.unbind(1) for x in (q, k, s, g))):
        hk = hk * g_t.exp()[..., None, :] + k_t[..., None] * s_t[..., None, :]
        out.append(torch.einsum("bhk,bhkm->bhm", q_t, hk))
    return torch.stack(out, 1), hk


def _slots_chunk(q, k, s, g, hk, chunk_size):
    """Pass 1 chunkwise (see the module docstring); same arguments and result as ``_slots_recurrent``."""
    t = q.shape[1]
    c = min(chunk_size, 1 << (t - 1).bit_length())
    q, k, s, g = (to_chunks(x, c) for x in (q, k, s, g))  # [B, H, N, C, *]; padding neither writes nor decays
    b = g.cumsum(-2)
    if -b[..., -1, :].min() <= DIRECT_MAX_SPAN:
        ref = b[..., c // 2, None, :]
        o = ((q @ k.mT).tril() @ (s * (ref - b).exp())) * (b - ref).exp()
    else:
        o = _slots_intra(q, k, s, g)
    # the state's transpose K~ᵀ [M, K] is a gla state: decay on its rows, keys s, values k
    states, hk_t = pass_states(s * _suffix(g).exp(), k, b[..., -1, :], hk.mT)
    o = o + (q @ states.mT) * b.exp()  # states [B, H, N, M, K] are K~ᵀ: q [C, K] @ K~ [K, M]
    return from_chunks(o, t), hk_t.mT


def _slots_intra(q, k, s, g):
    """Σ_{j<=i} (q_i·k_j) s_j ⊙ exp(Σ g over (j, i]) within each chunk of C (a power of two) tokens, by halving."""
    *lead, c, _ = q.shape
    o = (q * k).sum(-1, keepdim=True) * s
    size = 1
    while size < c:
        pairs = c // (2 * size)
        qq, kk, ss, gg = (x.reshape(*lead, pairs, 2, size, x.shape[-1]) for x in (q, k, s, g))
        # left columns decayed to the boundary r, right rows from it: both exponents <= 0
        s_left = ss[..., 0, :, :] * _suffix(gg[..., 0, :, :]).exp()
        o_right = (qq[..., 1, :, :] @ kk[..., 0, :, :].mT) @ s_left * gg[..., 1, :, :].cumsum(-2).exp()
        blocks = o.view(*lead, pairs, 2 * size, o.shape[-1])
        o = torch.cat((blocks[..., :size, :], blocks[..., size:, :] + o_right), -2).view(o.shape)
        size *= 2
    return o


@packable("gsa")
@autocast_safe
def gsa(q, k, v, s, g, scale=None, initial_state=None, output_final_state=False, mode="chunk", chunk_size=64):
    """Gated Slot Attention: two passes of gated linear attention with a softmax over the M slots between them (see
    the module docstring for the equations).

    q, k: [B, T, H, K]; v: [B, T, H, V]; s (slot write weights, 1 - exp(g) in the paper), g (log forget gate, <= 0):
    [B, T, H, M]; initial_state: (K~ [B, H, K, M], V~ [B, H, M, V]) or None. scale=None means K**-0.5 (fla's layer
    passes 1). chunk_size must be a power of two.
    Returns (o [B, T, H, V] in q's dtype, (K~_T, V~_T) float32 (float64 for float64 inputs) or None).
    """
    _check(q, k, v, s, g, initial_state, mode, chunk_size)
    dtype = q.dtype
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    hk, hv = (None, None) if initial_state is None else initial_state
    q, k, v, s, g, hk, hv = upcast(q, k, v, s, g, hk, hv, op="gsa")
    b, _, h, dk = q.shape
    hk = q.new_zeros(b, h, dk, s.shape[-1]) if hk is None else hk
    if mode == "recurrent":
        scores, hk = _slots_recurrent(q * scale, k, s, g, hk)
    else:
        scores, hk = _slots_chunk(q * scale, k, s, g, hk, chunk_size)
    o, hv = gla(scores.softmax(-1), s, v, g, scale=1.0, initial_state=hv, output_final_state=True,
                mode="recurrent" if mode == "recurrent" else "auto", chunk_size=chunk_size)
    return o.to(dtype), ((hk, hv) if output_final_state else None)
