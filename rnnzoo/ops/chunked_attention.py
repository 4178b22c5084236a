"""Chunked causal softmax attention (Ma et al. 2023, Mega: Moving Average Equipped Gated Attention, Sec. 3.5,
"Mega-chunk"): the sequence is cut into fixed chunks of C tokens at absolute positions 0, C, 2C, ... and each
query attends, causally, only to the keys of its own chunk:

    o_t = sum_{s in chunk(t), s <= t} softmax_s(scale q_t . k_s) v_s,     chunk(t) = {C floor(t/C), ..., t}

Shapes: ``q, k: [B, T, H, dk]``; ``v: [B, T, H, dv]``; state ``(k_cache [B, C-1, H, dk], v_cache [B, C-1, H, dv],
pos [B] int64)``: the last C-1 keys and values (right-aligned, zeros before the first token) and the tokens seen,
so a query knows which cached keys share its chunk. Cached keys of an earlier chunk are masked, never read.
Modes: ``"recurrent"`` (one query at a time against the cache, the equation above) and ``"chunk"`` (queries in
blocks of C against windows of 2C-1 keys, which hold every key a block's queries may see wherever the chunk
boundaries fall; O(T C) work and memory).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from rnnzoo.ops._common import autocast_safe, check_chunk_size, check_mode, upcast
from rnnzoo.ops.varlen import packable

MODES = ("recurrent", "chunk")


def init_cache(batch: int, chunk_size: int, H: int, dk: int, dv: int, device=None, dtype=None):
    """The empty state: (k_cache [B, C-1, H, dk], v_cache [B, C-1, H, dv], pos [B]) of zeros."""
    k = torch.zeros(batch, chunk_size - 1, H, dk, device=device, dtype=dtype)
    v = torch.zeros(batch, chunk_size - 1, H, dv, device=device, dtype=dtype)
    return k, v, torch.zeros(batch, dtype=torch.long, device=device)


def _check(q, k, v, chunk_size, initial_state, mode):
    check_mode("chunked_attention", mode, MODES)
    check_chunk_size("chunked_attention", chunk_size)
    if q.dim() != 4 or k.shape != q.shape or v.dim() != 4 or v.shape[:3] != q.shape[:3] or q.shape[1] == 0:
        raise ValueError(f"q, k must be [B, T, H, dk] and v [B, T, H, dv] with T >= 1, got {tuple(q.shape)}, "
                         f"{tuple(k.shape)}, {tuple(v.shape)}")
    if initial_state is not None:
        B, _, H, dk = q.shape
        kc, vc, pos = initial_state
        want = ((B, chunk_size - 1, H, dk), (B, chunk_size - 1, H, v.shape[-1]), (B,))
        if (tuple(kc.shape), tuple(vc.shape), tuple(pos.shape)) != want:
            raise ValueError(f"initial_state must be (k_cache, v_cache, pos) of shapes {want}, got "
                             f"{tuple(kc.shape)}, {tuple(vc.shape)}, {tuple(pos.shape)}")


def _visible(key_pos, query_pos, chunk_size):
    """[B, ..., Tq, 1] query and [B, ..., 1, Tk] key positions -> the mask of keys a query sees."""
    return (key_pos >= 0) & (key_pos <= query_pos) & (key_pos.div(chunk_size, rounding_mode="floor")
                                                       == query_pos.div(chunk_size, rounding_mode="floor"))


@packable("chunked_attention")
@autocast_safe
def chunked_attention(q, k, v, chunk_size, scale=None, initial_state=None, output_final_state=False, mode="chunk"):
    """q, k: [B, T, H, dk]; v: [B, T, H, dv] -> (o [B, T, H, dv] in q's dtype, (k_cache, v_cache) float32
    (float64 for float64 inputs) and pos, or None). See the module docstring."""
    _check(q, k, v, chunk_size, initial_state, mode)
    dtype = q.dtype
    kc, vc, pos = (None, None, None) if initial_state is None else initial_state
    q, k, v, kc, vc = upcast(q, k, v, kc, vc, op="chunked_attention")
    B, T, H, dk = q.shape
    C = chunk_size
    scale = dk ** -0.5 if scale is None else scale
    if initial_state is None:
        kc, vc, pos = init_cache(B, C, H, dk, v.shape[-1], device=q.device, dtype=k.dtype)
    keys, values = torch.cat((kc, k), 1), torch.cat((vc, v), 1)  # [B, C-1+T, ...]
    key_pos = pos[:, None] - (C - 1) + torch.arange(C - 1 + T, device=q.device)  # [B, C-1+T]
    if mode == "recurrent":
        outs = []
        for t in range(T):
            kt, vt = keys[:, t:t + C], values[:, t:t + C]  # the cache as it stands at token t, then k_t
            seen = _visible(key_pos[:, t:t + C], (pos + t)[:, None], C)  # [B, C]
            s = torch.einsum("bhd,bjhd->bhj", q[:, t], kt) * scale
            p = s.masked_fill(~seen[:, None], float("-inf")).softmax(-1)
            outs.append(torch.einsum("bhj,bjhd->bhd", p, vt))
        o = torch.stack(outs, 1)
    else:
        nb = -(-T // C)
        pad = nb * C - T  # queries padded to whole blocks
        qb = F.pad(q, (0, 0, 0, 0, 0, pad)).view(B, nb, C, H, dk)
        kw = F.pad(keys, (0, 0, 0, 0, 0, pad)).unfold(1, 2 * C - 1, C)  # [B, nb, H, dk, 2C-1]
        vw = F.pad(values, (0, 0, 0, 0, 0, pad)).unfold(1, 2 * C - 1, C)
        # padded keys get their would-be positions: later than every real query, and a padded query's row never
        # empty (an all-masked row is NaN, and NaN times a zero gradient is still NaN)
        kp = (pos[:, None] - (C - 1) + torch.arange(C - 1 + nb * C, device=q.device)).unfold(1, 2 * C - 1, C)
        qp = (pos[:, None] + torch.arange(nb * C, device=q.device)).view(B, nb, C)
        seen = _visible(kp[:, :, None, :], qp[..., None], C)  # [B, nb, C, 2C-1]
        s = torch.einsum("bnihd,bnhdj->bnhij", qb, kw) * scale
        p = s.masked_fill(~seen[:, :, None], float("-inf")).softmax(-1)
        o = torch.einsum("bnhij,bnhdj->bnihd", p, vw).reshape(B, nb * C, H, -1)[:, :T]
    state = None
    if output_final_state:
        state = (keys[:, keys.shape[1] - (C - 1):], values[:, values.shape[1] - (C - 1):], pos + T)
    return o.to(dtype), state
