"""Aaren: attention as an RNN (Feng et al. 2024, Attention as an RNN, Sec. 3.1-3.2).

A learned query ``q`` (one per head, the same at every step) attends over the prefix, o_t = softmax(s_{1..t}) v_{1..t}
with s_i = scale * q . k_i. Recurrent form with O(1) state (running max m, denominator u, numerator w):

    m_t = max(m_{t-1}, s_t)
    u_t = u_{t-1} exp(m_{t-1} - m_t) + exp(s_t - m_t)
    w_t = w_{t-1} exp(m_{t-1} - m_t) + v_t exp(s_t - m_t)
    o_t = w_t / u_t

Shapes: ``q: [H, K]``, ``k: [B, T, H, K]``, ``v: [B, T, H, V]``; state ``(m [B, H], u [B, H], w [B, H, V])``,
the empty prefix being ``(-inf, 0, 0)``. Returns ``(o [B, T, H, V] in v's dtype, state or None)``, the state
float32 (float64 for float64 inputs).

Fast form (``mode="chunk"``): the paper's prefix scan over (m, u, w) tuples, computed chunkwise: inside a chunk
the softmax weights exp(s_i - cummax_t) form a [L, L] matrix (a matmul, every exponent <= 0), and the
(m, u, w) tuples of whole chunks are combined by the same associative rule in a loop over chunks.
"""

from __future__ import annotations

import torch

from rnnzoo.ops._common import autocast_safe, check_chunk_size, check_mode, upcast
from rnnzoo.ops.varlen import packable

MODES = ("recurrent", "chunk")


def _check(q, k, v, initial_state, mode):
    check_mode("aaren", mode, MODES)
    if k.dim() != 4 or v.dim() != 4 or k.shape[:3] != v.shape[:3]:
        raise ValueError(f"k and v must be [B, T, H, K] and [B, T, H, V], got k {tuple(k.shape)}, v {tuple(v.shape)}")
    if q.shape != k.shape[2:]:
        raise ValueError(f"q must be [H, K]={tuple(k.shape[2:])}, got {tuple(q.shape)}")
    if initial_state is not None:
        Bt, _, H, V = v.shape
        shapes = ((Bt, H), (Bt, H), (Bt, H, V))
        if len(initial_state) != 3 or any(s.shape != e for s, e in zip(initial_state, shapes)):
            raise ValueError(f"initial_state must be (m, u, w) with shapes {shapes}, "
                             f"got {[tuple(s.shape) for s in initial_state]}")


def empty_state(batch, heads, dim_v, device=None, dtype=torch.float32):
    """(m, u, w) of the empty prefix: m = -inf, u = 0, w = 0."""
    return (torch.full((batch, heads), -torch.inf, device=device, dtype=dtype),
            torch.zeros(batch, heads, device=device, dtype=dtype),
            torch.zeros(batch, heads, dim_v, device=device, dtype=dtype))


def _merge(m, u, w, m2, u2, w2):
    """The associative combine of two (m, u, w) tuples (prefix first)."""
    mm = torch.maximum(m, m2)
    a, b = torch.exp(m - mm), torch.exp(m2 - mm)
    return mm, u * a + u2 * b, w * a.unsqueeze(-1) + w2 * b.unsqueeze(-1)


def _recurrent(s, v, state):
    m, u, w = state
    outs = []
    for s_t, v_t in zip(s.unbind(1), v.unbind(1)):  # unbind: indexing per step makes backward quadratic in T
        m, u, w = _merge(m, u, w, s_t, torch.ones_like(u), v_t)
        outs.append(w / u.unsqueeze(-1))
    return torch.stack(outs, 1), (m, u, w)


def _chunked(s, v, state, chunk_size):
    Bt, T, H = s.shape
    nc = -(-T // chunk_size)
    pad = nc * chunk_size - T
    if pad:  # padded steps get score -inf: weight exactly 0
        s = torch.nn.functional.pad(s, (0, 0, 0, pad), value=-torch.inf)
        v = torch.nn.functional.pad(v, (0, 0, 0, 0, 0, pad))
    s = s.reshape(Bt, nc, chunk_size, H).transpose(2, 3)  # [B, nc, H, L]
    v = v.reshape(Bt, nc, chunk_size, H, -1).transpose(2, 3)  # [B, nc, H, L, V]
    run_max = s.cummax(-1).values  # [B, nc, H, L]
    mask = torch.ones(chunk_size, chunk_size, dtype=torch.bool, device=s.device).tril()
    p = torch.exp((s.unsqueeze(-2) - run_max.unsqueeze(-1)).masked_fill(~mask, -torch.inf))  # [.., L(t), L(i)]
    u_loc, w_loc = p.sum(-1), p @ v
    # tuples entering each chunk: the associative combine over whole chunks, one chunk at a time
    m, u, w = state
    ms, us, ws = [], [], []
    # chunk totals sliced once and unbound: indexing [:, c] inside the loop would make the backward pass
    # add a zero-filled full-size gradient per chunk (quadratic in T)
    ends = zip(run_max[..., -1].unbind(1), u_loc[..., -1].unbind(1), w_loc[..., -1, :].unbind(1))
    for m_c, u_c, w_c in ends:
        ms.append(m), us.append(u), ws.append(w)
        m, u, w = _merge(m, u, w, m_c, u_c, w_c)
    m_in, u_in, w_in = (torch.stack(t, 1).unsqueeze(3) for t in (ms, us, ws))  # [B, nc, H, 1, ...]
    _, u_all, w_all = _merge(m_in, u_in, w_in, run_max, u_loc, w_loc)
    o = (w_all / u_all.unsqueeze(-1)).transpose(2, 3).reshape(Bt, nc * chunk_size, H, -1)
    return o[:, :T], (m, u, w)


@packable("aaren")
@autocast_safe
def aaren(q, k, v, scale=None, initial_state=None, output_final_state=False, mode="chunk", chunk_size=64):
    """Prefix softmax attention of a learned query. q: [H, K]; k: [B, T, H, K]; v: [B, T, H, V];
    initial_state: (m [B, H], u [B, H], w [B, H, V]) or None. Returns (o [B, T, H, V], (m, u, w) or None)."""
    _check(q, k, v, initial_state, mode)
    check_chunk_size("aaren", chunk_size)
    dtype = v.dtype
    q, k, v, *state = upcast(q, k, v, *(initial_state or ()), op="aaren")
    scale = k.shape[-1] ** -0.5 if scale is None else scale
    s = torch.einsum("bthk,hk->bth", k, q) * scale
    state = tuple(state) or empty_state(v.shape[0], v.shape[2], v.shape[3], v.device, v.dtype)
    if mode == "recurrent":
        o, state = _recurrent(s, v, state)
    else:
        o, state = _chunked(s, v, state, chunk_size)
    return o.to(dtype), (state if output_final_state else None)
