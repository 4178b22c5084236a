"""``deltaformer_attention``: DeltaFormer (Zhong, Xu, Ao & Shi 2025, Understanding Transformer from the Perspective
of Associative Memory, Sec. 4.3): the delta rule with a softmax kernel. Each token writes not its value but what
the memory does not already predict from its key, and queries read those writes with softmax attention:

    u_t = v_t - beta_t sum_{j<t} softmax_j(scale · k_t·k_j) u_j          (strictly earlier keys; u_1 = v_1)
    o_t = sum_{j<=t} softmax_j(scale · q_t·k_j) u_j

Layout ``[B, T, H, D]``. As in ``forgetting_attention`` the queries are the last ``Tq`` of the ``Tk`` keys: the
first ``Tk - Tq`` keys are a cache whose writes u are ``initial_state`` [B, Tk - Tq, H, V]; ``v`` and ``beta``
belong to the ``Tq`` new tokens; ``k_valid`` [B, Tk] marks cache slots that hold a real token (a token with no
valid earlier key writes u_t = v_t). With ``output_final_state`` the op returns the writes of all ``Tk`` keys
[B, Tk, H, V]: the next call's cache (the exact step needs it: state_size grows with T).

Modes: ``"recurrent"`` (the reference) computes u token by token and each output query by query. ``"chunk"``
(default) solves the triangular system (I + diag(beta) P) u = v, P the strictly causal softmax matrix, chunk by
chunk: the rows of a chunk are normalised over every earlier key at once, the writes of earlier chunks (and the
cache) enter the right-hand side, and the in-chunk C x C unit-lower-triangular system is solved directly
(flash-linear-attention's ``deltaformer_attn`` is this form); the outputs are then one causal attention call
(``F.scaled_dot_product_attention``) over the writes. O(T^2 (K + V)) work, O(C T) memory per chunk.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from rnnzoo.ops._common import autocast_safe, check_chunk_size, check_mode, upcast
from rnnzoo.ops.attention import attention_mask
from rnnzoo.ops.varlen import packable

MODES = ("recurrent", "chunk")


def _check(q, k, v, beta, initial_state, mode, chunk_size):
    check_mode("deltaformer_attention", mode, MODES)
    check_chunk_size("deltaformer_attention", chunk_size)
    if q.dim() != 4 or k.dim() != 4 or v.dim() != 4 or q.shape[0] != k.shape[0] or q.shape[2:] != k.shape[2:] \
            or v.shape[:3] != q.shape[:3] or q.shape[1] == 0:
        raise ValueError(f"deltaformer_attention: q must be [B, Tq, H, K] (Tq >= 1), k [B, Tk, H, K] and v "
                         f"[B, Tq, H, V]; got {tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}")
    cache = k.shape[1] - q.shape[1]
    if cache < 0:
        raise ValueError(f"deltaformer_attention: need at least as many keys as queries, got Tq={q.shape[1]}, "
                         f"Tk={k.shape[1]}")
    if beta.shape != q.shape[:3]:
        raise ValueError(f"deltaformer_attention: beta must be [B, Tq, H]={tuple(q.shape[:3])}, got "
                         f"{tuple(beta.shape)}")
    want = (k.shape[0], cache, k.shape[2], v.shape[-1])
    got = None if initial_state is None else tuple(initial_state.shape)
    if (cache or initial_state is not None) and got != want:
        raise ValueError(f"deltaformer_attention: initial_state must be the writes u of the {cache} cached keys "
                         f"{want}, got {got}")


@packable("deltaformer_attention")
@autocast_safe
def deltaformer_attention(q, k, v, beta, scale=None, initial_state=None, k_valid=None, output_final_state=False,
                          mode="chunk", chunk_size=64):
    """q: [B, Tq, H, K]; k: [B, Tk, H, K]; v: [B, Tq, H, V]; beta: [B, Tq, H]; initial_state: the cached writes
    [B, Tk - Tq, H, V] (None when Tk == Tq); k_valid: [B, Tk] bool or None. scale=None means K**-0.5.

    Returns (o [B, Tq, H, V] in q's dtype, the writes u of all keys [B, Tk, H, V] in the compute dtype, or None).
    """
    _check(q, k, v, beta, initial_state, mode, chunk_size)
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    dtype = q.dtype
    q, k, v, beta, u0 = upcast(q, k, v, beta, initial_state, op="deltaformer_attention")
    q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # [B, H, T, D]
    beta = beta.transpose(1, 2)
    u0 = v[:, :, :0] if u0 is None else u0.transpose(1, 2)
    tq, tk = q.shape[2], k.shape[2]
    allowed = attention_mask(tq, tk, None, k_valid, q.device)  # j <= i (and valid)
    earlier = allowed & _strictly_before(tq, tk, q.device)  # j < i (and valid)
    if mode == "recurrent":
        u = _writes_recurrent(k * scale, k, v, beta, u0, earlier)
        o = _read_recurrent(q * scale, k, u, allowed)
    else:
        u = _writes_chunk(k * scale, k, v, beta, u0, earlier, chunk_size)
        o = F.scaled_dot_product_attention(q, k, u, attn_mask=allowed, scale=scale)
    return o.transpose(1, 2).to(dtype), (u.transpose(1, 2) if output_final_state else None)


def _strictly_before(tq, tk, device):
    """[Tq, Tk]: key j strictly before query i (query i sits at key index Tk - Tq + i)."""
    return torch.arange(tk, device=device)[None, :] < torch.arange(tk - tq, tk, device=device)[:, None]


def _softmax(logits, mask):
    """Row softmax over ``mask``; a row with nothing to attend to is all zeros (no NaN)."""
    if logits.shape[-1] == 0:  # the first token: no earlier key
        return logits
    logits = logits.masked_fill(~mask, float("-inf"))
    top = logits.amax(-1, keepdim=True).nan_to_num(0.0, neginf=0.0).detach()
    e = (logits - top).exp()
    return e / e.sum(-1, keepdim=True).clamp_min(torch.finfo(e.dtype).tiny)


def _writes_recurrent(ks, k, v, beta, u, earlier):
    """u token by token (the equation of the module docstring)."""
    cache = u.shape[2]
    for i in range(v.shape[2]):
        p = cache + i
        w = _softmax(ks[:, :, p:p + 1] @ k[:, :, :p].transpose(-1, -2), earlier[..., i:i + 1, :p])  # [B, H, 1, p]
        u_t = v[:, :, i:i + 1] - beta[:, :, i, None, None] * (w @ u)
        u = torch.cat((u, u_t), 2)
    return u


def _read_recurrent(qs, k, u, allowed):
    tk, tq = k.shape[2], qs.shape[2]
    out = []
    for i in range(tq):
        p = tk - tq + i
        w = _softmax(qs[:, :, i:i + 1] @ k[:, :, : p + 1].transpose(-1, -2), allowed[..., i:i + 1, : p + 1])
        out.append(w @ u[:, :, : p + 1])
    return torch.cat(out, 2)


def _writes_chunk(ks, k, v, beta, u, earlier, chunk_size):
    """(I + diag(beta) P) u = v by chunks: earlier writes on the right-hand side, the in-chunk system solved."""
    cache, tq = u.shape[2], v.shape[2]
    for lo in range(0, tq, chunk_size):
        hi = min(lo + chunk_size, tq)
        p = _softmax(ks[:, :, cache + lo:cache + hi] @ k[:, :, :cache + hi].transpose(-1, -2),
                     earlier[..., lo:hi, :cache + hi])  # [B, H, c, keys before the chunk end]
        p = beta[:, :, lo:hi, None] * p
        rhs = v[:, :, lo:hi] - p[..., : cache + lo] @ u
        inner = p[..., cache + lo:] + torch.eye(hi - lo, dtype=p.dtype, device=p.device)
        u = torch.cat((u, torch.linalg.solve_triangular(inner, rhs, upper=False, unitriangular=True)), 2)
    return u
