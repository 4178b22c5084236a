"""``rwkv6``: RWKV-6 "Finch" WKV (Peng et al. 2024, Eagle and Finch: RWKV with Matrix-Valued States and Dynamic
Recurrence, the Finch WKV), in flash-linear-attention's convention (q = the receptance r, w = the log decay):

    o_t = (S_{t-1} + diag(u) k_t v_tᵀ)ᵀ (scale · q_t)          (the bonus u weights the current token)
    S_t = diag(exp(w_t)) S_{t-1} + k_t v_tᵀ

with ``w_t <= 0`` per key channel and u one bonus per head and key channel. RWKV-6's model writes the decay as
exp(-exp(w')), i.e. w = -exp(w'), and calls the op with scale = 1.

Modes: ``"recurrent"`` is the loop above. Every other mode is ``gla`` (in that mode) on the sequence with one empty
token (k = v = 0, no decay) put in front and every query moved one step earlier: gla's state recurrence is RWKV-6's,
and its output at position t, S_tᵀ q_{t+1}, is RWKV-6's read of the previous state. The bonus term is added after:
o_t = S_{t-1}ᵀ (scale q_t) + (scale q_t · u k_t) v_t. The final states agree exactly, and no factor exp(-w) (which
overflows under strong decay) is ever formed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from rnnzoo.ops._chunk import check_qkv
from rnnzoo.ops._common import autocast_safe, check_chunk_size, check_mode, upcast
from rnnzoo.ops.gla import KERNEL, MODES, gla  # noqa: F401 (KERNEL: read by backend_report)
from rnnzoo.ops.varlen import packable


@packable("rwkv6")
@autocast_safe
def rwkv6(q, k, v, w, u, scale=None, initial_state=None, output_final_state=False, mode="auto", chunk_size=64):
    """q, k, w: [B, T, H, K] (w: log decay, <= 0); v: [B, T, H, V]; u: [H, K] bonus; initial_state: [B, H, K, V].

    scale=None means K**-0.5; chunk_size (a power of two) and the modes other than "recurrent" are gla's.
    Returns (o [B, T, H, V] in q's dtype, S_T [B, H, K, V] float32 (float64 for float64 inputs) or None).
    """
    check_mode("rwkv6", mode, MODES)
    check_qkv(q, k, v, initial_state, "rwkv6")
    if w.shape != q.shape:
        raise ValueError(f"rwkv6: w must be [B, T, H, K] like q {tuple(q.shape)}, got {tuple(w.shape)}")
    if tuple(u.shape) != (q.shape[2], q.shape[3]):
        raise ValueError(f"rwkv6: u must be [H, K]={[q.shape[2], q.shape[3]]}, got {tuple(u.shape)}")
    check_chunk_size("rwkv6", chunk_size)
    if chunk_size & (chunk_size - 1):
        raise ValueError(f"rwkv6: chunk_size must be a power of two, got {chunk_size}")
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    qf, k, v, w, u, s0 = upcast(q, k, v, w, u, initial_state, op="rwkv6")
    if mode == "recurrent":
        b, _, h, dk = q.shape
        s = s0 if s0 is not None else qf.new_zeros(b, h, dk, v.shape[-1])
        o, s = _recurrent(qf * scale, k, v, w, u, s)
    else:
        front = (0, 0, 0, 0, 1, 0)  # one empty token before the first
        o, s = gla(F.pad(qf, (0, 0, 0, 0, 0, 1)), F.pad(k, front), F.pad(v, front), F.pad(w, front), scale=scale,
                   initial_state=s0, output_final_state=True, mode=mode, chunk_size=chunk_size)
        o = o[:, :-1] + ((qf * scale) * u * k).sum(-1, keepdim=True) * v
    return o.to(q.dtype), (s if output_final_state else None)


def _recurrent(q, k, v, w, u, s):
    """The loop of the equations (steps by unbind: indexing [:, t] makes backward O(T^2))."""
    out = []
    for q_t, k_t, v_t, w_t in zip(q.unbind(1), k.unbind(1), v.unbind(1), w.unbind(1)):
        kv = k_t[..., :, None] * v_t[..., None, :]  # [B, H, K, V]
        out.append(torch.einsum("bhk,bhkv->bhv", q_t, s + u[..., None] * kv))
        s = w_t[..., None].exp() * s + kv
    return torch.stack(out, 1), s
