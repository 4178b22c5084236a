"""Mamba-2 state-space duality (Dao & Gu 2024, Transformers are SSMs, Sec. 6 and Listing 1 "ssd_minimal"):

    h_t = exp(a_t) h_{t-1} + b_t x_t^T          h: [N, P] per head
    y_t = h_t^T c_t

``x: [B, T, H, P]``, ``a: [B, T, H]`` (log decay, <= 0), ``b, c: [B, T, H, N]``, state ``[B, H, N, P]``.
This is ``simple_gla`` with ``q = c, k = b, v = x, g = a, scale = 1``; it should be folded onto that op once it
lands (same chunked algebra). ``signed_ssd`` takes a signed transition ``a_t in [-1, 1]`` instead
(Grazzi et al. 2025), with the chunk decays built from log|a| and a sign parity.

Modes: ``"recurrent"`` (the loop above) and ``"chunk"``: inside a chunk the quadratic (attention-like) form
with the decay matrix exp(segsum(a)), built by a masked cumsum so that no exp(+large) ever appears; chunk
states are passed between chunks by the same segsum over chunk totals.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

MODES = ("recurrent", "chunk")
_MIN_LOG = -60.0  # |a| below e^-60 counts as e^-60 in signed_ssd's chunked form


def _check(x, a, b, c, initial_state, mode):
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if x.dim() != 4:
        raise ValueError(f"x must be [B, T, H, P], got {tuple(x.shape)}")
    Bt, T, H, P = x.shape
    if a.shape != (Bt, T, H):
        raise ValueError(f"a must be [B, T, H]={(Bt, T, H)}, got {tuple(a.shape)}")
    if b.dim() != 4 or b.shape[:3] != (Bt, T, H) or c.shape != b.shape:
        raise ValueError(f"b and c must be [B, T, H, N] with [B, T, H]={(Bt, T, H)}, got b {tuple(b.shape)}, "
                         f"c {tuple(c.shape)}")
    if initial_state is not None and initial_state.shape != (Bt, H, b.shape[-1], P):
        raise ValueError(f"initial_state must be [B, H, N, P]={(Bt, H, b.shape[-1], P)}, got {tuple(initial_state.shape)}")


def _segsum(la: torch.Tensor) -> torch.Tensor:
    """[..., L] -> [..., L, L] with out[i, j] = la[j+1] + ... + la[i] for i >= j, -inf above the diagonal."""
    L = la.shape[-1]
    rep = la.unsqueeze(-1).expand(*la.shape, L)
    strict = torch.ones(L, L, dtype=torch.bool, device=la.device).tril(-1)
    out = rep.masked_fill(~strict, 0).cumsum(-2)  # a masked cumsum: no difference of large cumsums
    return out.masked_fill(~torch.ones(L, L, dtype=torch.bool, device=la.device).tril(), -torch.inf)


def _parity(neg: torch.Tensor) -> torch.Tensor:
    """[..., L] 0/1 negatives -> [..., L, L] signs (-1)^(neg[j+1] + ... + neg[i]) below the diagonal."""
    cnt = neg.cumsum(-1)
    return 1 - 2 * torch.remainder(cnt.unsqueeze(-1) - cnt.unsqueeze(-2), 2)


def _chunked(x, la, neg, b, c, chunk_size, h0):
    Bt, T, H, P = x.shape
    nc = -(-T // chunk_size)
    pad = nc * chunk_size - T
    if pad:  # padded steps at the end: zero input, zero log decay, so the state passes through unchanged
        x, b, c = (F.pad(t, (0, 0, 0, 0, 0, pad)) for t in (x, b, c))
        la = F.pad(la, (0, 0, 0, pad))
        neg = None if neg is None else F.pad(neg, (0, 0, 0, pad))
    x, b, c = (t.reshape(Bt, nc, chunk_size, H, -1) for t in (x, b, c))
    la = la.reshape(Bt, nc, chunk_size, H).permute(0, 3, 1, 2)  # [B, H, nc, L]
    cum = la.cumsum(-1)
    decay = torch.exp(_segsum(la))  # [B, H, nc, L, L]
    from_start = torch.exp(cum)
    chunk_decay = torch.exp(_segsum(F.pad(cum[..., -1], (1, 0))))  # [B, H, nc+1, nc+1]
    if neg is not None:
        neg = neg.reshape(Bt, nc, chunk_size, H).permute(0, 3, 1, 2)
        cnt = neg.cumsum(-1)
        decay = decay * _parity(neg)
        from_start = from_start * (1 - 2 * torch.remainder(cnt, 2))
        chunk_decay = chunk_decay * _parity(F.pad(cnt[..., -1], (1, 0)))
    to_end = decay[..., -1, :]  # from each step to the chunk end: a segment sum, not cum[-1] - cum[s]
    y = torch.einsum("bclhn,bcshn,bhcls,bcshp->bclhp", c, b, decay, x)  # within chunks
    states = torch.einsum("bclhn,bhcl,bclhp->bchnp", b, to_end, x)  # each chunk's own final state
    init = torch.zeros_like(states[:, :1]) if h0 is None else h0.unsqueeze(1).to(states.dtype)
    states = torch.einsum("bhzc,bchnp->bzhnp", chunk_decay, torch.cat((init, states), 1))
    y = y + torch.einsum("bclhn,bchnp,bhcl->bclhp", c, states[:, :-1], from_start)  # state entering each chunk
    return y.reshape(Bt, nc * chunk_size, H, P)[:, :T], states[:, -1]


def _recurrent(x, decay, b, c, h0):
    Bt, T, H, P = x.shape
    h = x.new_zeros(Bt, H, b.shape[-1], P) if h0 is None else h0
    ys = []
    for t in range(T):
        h = decay[:, t, :, None, None] * h + b[:, t, :, :, None] * x[:, t, :, None, :]
        ys.append(torch.einsum("bhnp,bhn->bhp", h, c[:, t]))
    return torch.stack(ys, 1), h


def _prepare(tensors):
    return [None if t is None else (t if t.dtype == torch.float64 else t.float()) for t in tensors]


def ssd(x, a, b, c, chunk_size=64, initial_state=None, output_final_state=False, mode="chunk"):
    """Mamba-2 SSD with log decay a <= 0. x: [B,T,H,P], a: [B,T,H], b, c: [B,T,H,N], initial_state: [B,H,N,P].

    Returns (y [B, T, H, P], final_state [B, H, N, P] or None).
    """
    _check(x, a, b, c, initial_state, mode)
    dtype = x.dtype
    x, a, b, c, h0 = _prepare((x, a, b, c, initial_state))
    if mode == "recurrent":
        y, h = _recurrent(x, a.exp(), b, c, h0)
    else:
        y, h = _chunked(x, a, None, b, c, chunk_size, h0)
    return y.to(dtype), (h.to(dtype) if output_final_state else None)


def signed_ssd(x, a, b, c, chunk_size=64, initial_state=None, output_final_state=False, mode="chunk"):
    """SSD with a signed per-head transition a in [-1, 1]: h_t = a_t h_{t-1} + b_t x_t^T, y_t = h_t^T c_t.

    Shapes as ``ssd``. Returns (y [B, T, H, P], final_state [B, H, N, P] or None).
    """
    _check(x, a, b, c, initial_state, mode)
    dtype = x.dtype
    x, a, b, c, h0 = _prepare((x, a, b, c, initial_state))
    if mode == "recurrent":
        y, h = _recurrent(x, a, b, c, h0)
    else:
        la = a.abs().clamp_min(math.exp(_MIN_LOG)).log()
        y, h = _chunked(x, la, (a < 0).to(a.dtype).detach(), b, c, chunk_size, h0)
    return y.to(dtype), (h.to(dtype) if output_final_state else None)
