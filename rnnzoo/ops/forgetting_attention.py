"""``forgetting_attention``: softmax attention with a data-dependent forget gate (Lin et al. 2025, Forgetting
Transformer: Softmax Attention with a Forget Gate, eq. 3-5).

    F_i = sum_{l<=i} log f_l,    o_i = sum_{j<=i} softmax_j(scale · q_i·k_j + F_i - F_j) v_j

so the logit of key j seen from query i is lowered by sum_{j<l<=i} -log f_l, the forgetting of every step in
between (f = 1 everywhere is causal softmax attention). Layout ``[B, T, H, D]``, g = log f [B, Tk, H] (<= 0) per
key. As in ``softmax_attention`` the queries are the last ``Tq`` of the ``Tk`` keys (a cache before them):
query i sits at key index ``Tk - Tq + i``; ``k_valid`` [B, Tk] marks cache slots that hold a real token.

Modes: ``"recurrent"`` (the reference) takes one query at a time and sums its gates over (j, i] directly;
``"sdpa"`` (default) builds the bias matrix F_i - F_j once and passes it to PyTorch's
``scaled_dot_product_attention`` as an additive mask. F is taken relative to the last key (r_j = sum_{l>j} g_l,
F_i - F_j = r_j - r_i), summed in float64 so that each bias, cast back, is as exact as if it were summed
directly over (j, i] (a float32 difference of two sums of thousands of nats would be off by ~1e-4; MPS, without
float64, sums in float32). Computes in float32 at least; returns o in q's dtype (no state: the mixer owns the
cache).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from rnnzoo.ops._common import autocast_safe, check_mode, upcast
from rnnzoo.ops.attention import attention_mask
from rnnzoo.ops.varlen import packable

MODES = ("recurrent", "sdpa")


@packable("forgetting_attention")
@autocast_safe
def forgetting_attention(q, k, v, g, scale=None, k_valid=None, mode="sdpa"):
    """q: [B, Tq, H, K]; k: [B, Tk, H, K]; v: [B, Tk, H, V] with Tk >= Tq; g: [B, Tk, H] log forget gates;
    k_valid: [B, Tk] bool or None. scale=None means K**-0.5.

    Returns o: [B, Tq, H, V] in q's dtype.
    """
    check_mode("forgetting_attention", mode, MODES)
    if q.dim() != 4 or k.dim() != 4 or v.dim() != 4 or k.shape[:3] != v.shape[:3] or q.shape[0] != k.shape[0] \
            or q.shape[2:] != k.shape[2:]:
        raise ValueError(f"forgetting_attention: q must be [B, Tq, H, K], k [B, Tk, H, K] and v [B, Tk, H, V]; got "
                         f"{tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}")
    if g.shape != k.shape[:3]:
        raise ValueError(f"forgetting_attention: g must be [B, Tk, H] {tuple(k.shape[:3])}, got {tuple(g.shape)}")
    tq, tk = q.shape[1], k.shape[1]
    if tk < tq:
        raise ValueError(f"forgetting_attention: need at least as many keys as queries, got Tq={tq}, Tk={tk}")
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    qf, k, v, g = upcast(q, k, v, g, op="forgetting_attention")
    qf, k, v = (t.transpose(1, 2) for t in (qf, k, v))  # [B, H, T, D]
    g = g.transpose(1, 2)  # [B, H, Tk]
    fn = _recurrent if mode == "recurrent" else _sdpa
    return fn(qf, k, v, g, scale, k_valid).transpose(1, 2).to(q.dtype)


def _sdpa(q, k, v, g, scale, k_valid):
    tq, tk = q.shape[2], k.shape[2]
    g64 = g.to(torch.float32 if g.device.type == "mps" else torch.float64)  # the long sums in float64: their differences keep float32's precision of each bias
    r = g64.flip(-1).cumsum(-1).flip(-1) - g64  # r_j = sum_{l>j} log f_l = F_last - F_j
    bias = (r[..., None, :] - r[..., tk - tq:, None]).to(q.dtype)  # F_i - F_j = r_j - r_i: [B, H, Tq, Tk]
    mask = attention_mask(tq, tk, None, k_valid, q.device)
    bias = bias.masked_fill(~mask, float("-inf"))
    return F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=scale)


def _recurrent(q, k, v, g, scale, k_valid):
    tq, tk = q.shape[2], k.shape[2]
    out = []
    for i, q_i in enumerate(q.unbind(2)):
        p = tk - tq + i  # this query's key index
        seen = g[..., : p + 1]
        forgot = seen.flip(-1).cumsum(-1).flip(-1) - seen  # sum_{j<l<=p} log f_l, [B, H, p+1]
        logits = torch.einsum("bhd,bhjd->bhj", q_i, k[:, :, : p + 1]) * scale + forgot
        if k_valid is not None:
            logits = logits.masked_fill(~k_valid[:, None, : p + 1], float("-inf"))
        out.append(torch.einsum("bhj,bhjd->bhd", logits.softmax(-1), v[:, :, : p + 1]))
    return torch.stack(out, 2)
