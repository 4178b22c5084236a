"""Sparse local attention over the activated tokens of SeqBoat (Ren et al. 2023, Sparse Modular Activation for
Efficient Sequence Modeling, sec. 3: the attention module sees the compressed sequence of the tokens its gate
activated).

With a_t in {0, 1} the activation of token t and n_t = sum_{s <= t} a_s its rank among the activated tokens:

    o_t = a_t sum_{s <= t, a_s = 1, n_t - n_s < w} softmax_s(scale q_t.k_s) v_s

i.e. causal attention with window w over the compressed sequence; inactive tokens output 0. Shapes: ``q, k:
[B, T, Z]``, ``v: [B, T, V]``, ``active: [B, T]`` bool. State: the last w - 1 activated keys and values,
right-aligned, ``k_win [B, w-1, Z]``, ``v_win [B, w-1, V]``, and ``count [B]`` int64 (activated tokens seen, which
marks the filled slots). Modes: ``"recurrent"`` (token by token; an activated token attends to its window and
enters it) and ``"parallel"`` (gather the activated tokens to the front, one masked softmax over the window
band of the compressed sequence, scatter back).
"""

from __future__ import annotations

import torch

from rnnzoo.ops._common import autocast_safe, check_mode, upcast
from rnnzoo.ops.attention import attention_mask
from rnnzoo.ops.varlen import packable

MODES = ("recurrent", "parallel")


def _check(q, k, v, active, window, initial_state, mode):
    check_mode("sparse_local_attention", mode, MODES)
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    if q.dim() != 3 or q.shape != k.shape or v.shape[:2] != q.shape[:2] or v.dim() != 3:
        raise ValueError(f"q, k must be [B, T, Z] and v [B, T, V]; got {tuple(q.shape)}, {tuple(k.shape)}, "
                         f"{tuple(v.shape)}")
    if active.shape != q.shape[:2] or active.dtype != torch.bool:
        raise ValueError(f"active must be bool [B, T]={tuple(q.shape[:2])}, got {active.dtype} {tuple(active.shape)}")
    if initial_state is not None:
        b, _, z = q.shape
        k_win, v_win, count = initial_state
        if k_win.shape != (b, window - 1, z) or v_win.shape != (b, window - 1, v.shape[2]) or count.shape != (b,):
            raise ValueError(f"initial_state must be (k_win [B, w-1, Z]={(b, window - 1, z)}, v_win [B, w-1, V], "
                             f"count [B]); got {[tuple(t.shape) for t in initial_state]}")


@packable("sparse_local_attention")
@autocast_safe
def sparse_local_attention(q, k, v, active, window, scale=None, initial_state=None, output_final_state=False,
                           mode="parallel"):
    """q, k: [B, T, Z]; v: [B, T, V]; active: [B, T] bool -> (o [B, T, V] in q's dtype, (k_win, v_win) float32
    (float64 for float64 inputs) and count, or None)."""
    _check(q, k, v, active, window, initial_state, mode)
    dtype = q.dtype
    k_win, v_win, count = (None, None, None) if initial_state is None else initial_state
    q, k, v, k_win, v_win = upcast(q, k, v, k_win, v_win, op="sparse_local_attention")
    b, _, z = q.shape
    scale = z ** -0.5 if scale is None else scale
    if initial_state is None:
        k_win, v_win = q.new_zeros(b, window - 1, z), v.new_zeros(b, window - 1, v.shape[2])
        count = torch.zeros(b, dtype=torch.long, device=q.device)
    run = _recurrent if mode == "recurrent" else _parallel
    o, state = run(q, k, v, active, window, scale, (k_win, v_win, count))
    return o.to(dtype), (state if output_final_state else None)


def _filled(count, slots: int):
    """[B, slots] bool: which right-aligned window slots hold a token."""
    return torch.arange(slots, device=count.device)[None, :] >= slots - count.clamp(max=slots)[:, None]


def _recurrent(q, k, v, active, window, scale, state):
    k_win, v_win, count = state
    outs = []
    for q_t, k_t, v_t, a_t in zip(q.unbind(1), k.unbind(1), v.unbind(1), active.unbind(1)):
        keys, values = torch.cat((k_win, k_t[:, None]), 1), torch.cat((v_win, v_t[:, None]), 1)
        seen = torch.cat((_filled(count, window - 1), count.new_ones(len(count), 1, dtype=torch.bool)), 1)
        scores = torch.einsum("bz,bjz->bj", q_t, keys) * scale
        o_t = torch.einsum("bj,bjv->bv", scores.masked_fill(~seen, float("-inf")).softmax(-1), values)
        outs.append(o_t * a_t[:, None])
        keep = a_t[:, None, None]
        k_win, v_win = torch.where(keep, keys[:, 1:], k_win), torch.where(keep, values[:, 1:], v_win)
        count = count + a_t
    return torch.stack(outs, 1), (k_win, v_win, count)


def _parallel(q, k, v, active, window, scale, state):
    k_win, v_win, count = state
    b, t, _ = q.shape
    slots = window - 1
    n_active = active.sum(1)
    n = int(n_active.max()) if t else 0
    # activated tokens first, in time order (a stable sort of the inactive flag)
    order = torch.sort((~active).to(torch.int8), dim=1, stable=True).indices[:, :n]
    real = torch.arange(n, device=q.device)[None, :] < n_active[:, None]  # [B, n]: a compressed slot holds a token
    qc, kc = q.gather(1, order[..., None].expand(-1, -1, q.shape[2])), k.gather(1, order[..., None].expand(-1, -1, k.shape[2]))
    vc = v.gather(1, order[..., None].expand(-1, -1, v.shape[2]))
    keys, values = torch.cat((k_win, kc), 1), torch.cat((v_win, vc), 1)
    allowed = attention_mask(n, slots + n, window, torch.cat((_filled(count, slots), real), 1), q.device)[:, 0]
    own = torch.arange(slots + n, device=q.device)[None, :] == slots + torch.arange(n, device=q.device)[:, None]
    allowed = allowed | own  # padding rows see themselves (no all-masked row)
    scores = torch.einsum("biz,bjz->bij", qc, keys) * scale
    oc = torch.einsum("bij,bjv->biv", scores.masked_fill(~allowed, float("-inf")).softmax(-1), values)
    o = v.new_zeros(b, t, v.shape[2]).scatter(1, order[..., None].expand_as(oc), oc * real[..., None])
    # the new window: the last w - 1 entries of (old window, this call's activated tokens), per sequence
    take = (n_active[:, None] + torch.arange(slots, device=q.device)[None, :])[..., None]
    return o, (keys.gather(1, take.expand(-1, -1, keys.shape[2])), values.gather(1, take.expand(-1, -1, values.shape[2])),
               count + n_active)
