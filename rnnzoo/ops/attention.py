"""Causal softmax attention over a key sequence that may start with a cache (Vaswani et al., 2017).

Layout ``[B, T, H, D]``. The queries are the last ``Tq`` positions of the ``Tk`` keys: query i sits at
key index ``Tk - Tq + i`` and sees keys ``j <= Tk - Tq + i``; with ``window=w`` only the last w of them
(itself included). The first ``sinks`` keys are seen by every query whatever the window (persistent
memory / attention-sink tokens, which sit before the cache). ``k_valid`` marks cache slots that hold a real
token (a sliding cache that is not yet full). ``mode="recurrent"`` (the reference, named as in every op) is
the explicit masked softmax; ``mode="sdpa"`` is PyTorch's ``scaled_dot_product_attention`` (flash /
memory-efficient kernels where available).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from rnnzoo.ops._common import autocast_safe, check_float, check_mode
from rnnzoo.ops.varlen import packable

MODES = ("recurrent", "sdpa")


def attention_mask(tq: int, tk: int, window: int | None, k_valid: torch.Tensor | None,
                   device, sinks: int = 0) -> torch.Tensor:
    """Boolean mask, True = may attend. [Tq, Tk], or [B, 1, Tq, Tk] when k_valid [B, Tk] is given."""
    q_idx = torch.arange(tk - tq, tk, device=device)[:, None]
    k_idx = torch.arange(tk, device=device)[None, :]
    mask = k_idx <= q_idx
    if window is not None:
        mask = mask & (k_idx > q_idx - window)
    if sinks:
        mask = mask | (k_idx < sinks)
    if k_valid is not None:
        mask = mask[None, None] & k_valid[:, None, None, :]
    return mask


@packable("softmax_attention")
@autocast_safe
def softmax_attention(q, k, v, scale=None, window=None, k_valid=None, mode="sdpa", sinks=0):
    """q: [B, Tq, H, D]; k, v: [B, Tk, H, D] with Tk >= Tq; k_valid: [B, Tk] bool or None.

    Returns o: [B, Tq, H, D] (attention keeps no recurrent state; the mixer owns the cache).
    """
    check_mode("softmax_attention", mode, MODES)
    if q.dim() != 4 or k.shape != v.shape or k.dim() != 4 or q.shape[0] != k.shape[0] or q.shape[2:] != k.shape[2:]:
        raise ValueError(f"q must be [B, Tq, H, D] and k, v [B, Tk, H, D]; got {tuple(q.shape)}, "
                         f"{tuple(k.shape)}, {tuple(v.shape)}")
    tq, tk = q.shape[1], k.shape[1]
    if tk < tq:
        raise ValueError(f"need at least as many keys as queries, got Tq={tq}, Tk={tk}")
    if window is not None and window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    # computed in the inputs' common dtype, unlike the recurrent ops: no state accumulates across steps, sdpa's
    # kernels accumulate in float32 themselves, and its flash kernels need half-precision inputs
    check_float(q, k, v, op="softmax_attention")
    dtype, common = q.dtype, torch.promote_types(torch.promote_types(q.dtype, k.dtype), v.dtype)
    q, k, v = (t.to(common).transpose(1, 2) for t in (q, k, v))  # [B, H, T, D]
    if mode == "sdpa":
        if window is None and k_valid is None and tq == tk and not sinks:
            o = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=scale)
        else:
            o = F.scaled_dot_product_attention(q, k, v, attn_mask=attention_mask(tq, tk, window, k_valid, q.device, sinks),
                                               scale=scale)
        return o.transpose(1, 2).to(dtype)
    scores = (q @ k.transpose(-1, -2)) * scale
    scores = scores.masked_fill(~attention_mask(tq, tk, window, k_valid, q.device, sinks), float("-inf"))
    return (scores.softmax(-1) @ v).transpose(1, 2).to(dtype)
