"""Diagonal linear scans: h_t = a_t * h_{t-1} + x_t, elementwise, the core of every diagonal SSM.

Two public ops share one fast core:

* ``diagonal_scan(x, g, ...)``: decay ``a_t = exp(g_t)`` with log decay ``g_t <= 0`` (S4D, Mamba S6).
* ``signed_diagonal_scan(x, a, ...)``: a signed transition ``a_t in [-1, 1]`` (Grazzi et al. 2025,
  Unlocking State-Tracking in Linear RNNs Through Negative Eigenvalues), kept as log-magnitude plus a
  sign, so the same chunked form applies with a sign parity.

Layout: time is dim 1, any trailing dims: ``x, g, a: [B, T, *R]``, state ``[B, *R]``. Both return
``(h [B, T, *R], final_state [B, *R] or None)``.

Fast form (``mode="chunk"``): inside a chunk, with ``l_t`` the cumulative log-magnitude and ``s_t`` the
cumulative sign from the chunk start, ``h_t = s_t e^{l_t} (h_0 + sum_{r<=t} s_r e^{-l_r} x_r)`` is two
cumsums; chunk boundaries are joined by a loop over chunks. The chunk length is picked from the data so
that ``|l_t| <= 20`` inside every chunk, which keeps ``e^{+-l}`` finite and accurate in float32; when single
steps decay harder than that allows for chunks of 16, the factors are taken in float64 (``|l_t| <= 600``). The
form is exact for any decay; it only slows down (float64, then shorter chunks) for extreme decays. The backward pass
is itself a reverse diagonal scan (``lambda_t = dh_t + a_{t+1} lambda_{t+1}``), so autograd stores only
``g`` and ``h``.
"""

from __future__ import annotations

import math

import torch

MODES = ("recurrent", "chunk")
# e^{+-l} carries a relative error of ~|l| * eps, so the span inside a chunk is kept small; e^20 also stays
# far from float32 overflow (e^88)
_MAX_LOG_SPAN = 20.0
_MAX_LOG_SPAN_F64 = 600.0  # e^600 is still finite in float64 (e^709), with |l| * eps ~ 1e-13
_MIN_CHUNK = 16
_MAX_CHUNK = 32
_MIN_LOG = -60.0  # |a| below e^-60 ~ 1e-26 is treated as e^-60 in the chunked form (signed scan only)


def _cumsum_chunks(t: torch.Tensor) -> torch.Tensor:
    """Cumsum over dim 2 of [B, nc, chunk, *R] as a matmul with a triangle of ones (several times faster
    than torch.cumsum over a non-last dim on CPU)."""
    chunk = t.shape[2]
    tril = torch.ones(chunk, chunk, dtype=t.dtype, device=t.device).tril_()
    return torch.matmul(tril, t.reshape(-1, chunk, t[0, 0, 0].numel())).view(t.shape)


def _pick_chunk(step: float, span: float, T: int) -> int:
    chunk = 2 ** int(math.floor(math.log2(max(span / step, 1.0))))
    return max(1, min(chunk, _MAX_CHUNK, 1 << (T - 1).bit_length()))


def _chunk_scan(x: torch.Tensor, la: torch.Tensor, sign: torch.Tensor | None, h0: torch.Tensor | None):
    """h_t = sign_t * exp(la_t) * h_{t-1} + x_t over dim 1, by chunked cumsums. No autograd inside."""
    B, T = x.shape[:2]
    step = max(-float(la.min()), 1e-6)
    span = _MAX_LOG_SPAN if x.dtype != torch.float64 else _MAX_LOG_SPAN_F64
    chunk = _pick_chunk(step, span, T)
    if chunk < _MIN_CHUNK <= T and x.dtype != torch.float64:
        # single steps decay hard (e^-1.3 or less): float64 factors keep the chunks long (and exact)
        h = _chunk_scan(x.double(), la.double(), None if sign is None else sign.double(),
                        None if h0 is None else h0.double())
        return h.to(x.dtype)
    nc = -(-T // chunk)
    pad = nc * chunk - T
    rest = x.shape[2:]
    if pad:
        padding = (0, 0) * len(rest) + (0, pad)
        x, la = torch.nn.functional.pad(x, padding), torch.nn.functional.pad(la, padding)
        if sign is not None:
            sign = torch.nn.functional.pad(sign, padding, value=1.0)
    x, la = x.reshape(B, nc, chunk, *rest), la.reshape(B, nc, chunk, *rest)
    if chunk == 1:  # steps decaying by more than e^-300: no cumsum trick, a plain loop
        decay, h = la.exp(), x.clone()
        if sign is not None:
            decay = decay * sign.reshape(decay.shape)
    else:
        l = _cumsum_chunks(la)
        decay, inv = l.exp(), l.neg_().exp_()
        if sign is not None:
            s = sign.reshape(B, nc, chunk, *rest).cumprod(2)
            decay, inv = decay * s, inv * s  # 1/s == s for s in {-1, +1}
        h = _cumsum_chunks(inv * x).mul_(decay)  # chunk-local scan from a zero state
    # join the chunks: the state entering chunk c, sequentially over chunks (not tokens)
    carry = torch.zeros_like(h[:, 0, 0]) if h0 is None else h0.to(h.dtype)
    starts = []
    for c in range(nc):
        starts.append(carry)
        carry = decay[:, c, -1] * carry + h[:, c, -1]
    h = h.add_(decay * torch.stack(starts, 1).unsqueeze(2))
    return h.reshape(B, nc * chunk, *rest)[:, :T]


class _DiagScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, la, sign, h0):
        with torch.no_grad():
            h = _chunk_scan(x, la, sign, h0)
        ctx.save_for_backward(la, sign, h, h0)
        return h

    @staticmethod
    def backward(ctx, dh):
        la, sign, h, h0 = ctx.saved_tensors
        # adjoint: lambda_t = dh_t + a_{t+1} lambda_{t+1}, a reverse scan with the decays shifted by one
        # (the decay placed at t = T multiplies the zero adjoint from beyond the end, so 0 will do)
        la_next = torch.cat((la[:, 1:], torch.zeros_like(la[:, :1])), 1).flip(1)
        sign_next = None if sign is None else torch.cat((sign[:, 1:], torch.ones_like(sign[:, :1])), 1).flip(1)
        lam = _chunk_scan(dh.flip(1), la_next, sign_next, None).flip(1)
        a = la.exp() if sign is None else la.exp() * sign
        h_prev = torch.cat((torch.zeros_like(h[:, :1]) if h0 is None else h0.unsqueeze(1), h[:, :-1]), 1)
        dla = lam * a * h_prev  # d h_t / d la_t = a_t h_{t-1} (not h_t - x_t: that cancels in float32)
        dh0 = None if h0 is None else a[:, 0] * lam[:, 0]
        return lam, dla, None, dh0


def _check(x, decay, h0, name: str, mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if x.dim() < 2 or x.shape != decay.shape:
        raise ValueError(f"x and {name} must both be [B, T, ...] with equal shapes, got x {tuple(x.shape)}, "
                         f"{name} {tuple(decay.shape)}")
    if h0 is not None and h0.shape != x.shape[:1] + x.shape[2:]:
        raise ValueError(f"initial_state must be [B, ...]={tuple(x.shape[:1] + x.shape[2:])}, got {tuple(h0.shape)}")


def _recurrent(x, a, h0):
    h = torch.zeros_like(x[:, 0]) if h0 is None else h0
    hs = []
    for t in range(x.shape[1]):
        h = a[:, t] * h + x[:, t]
        hs.append(h)
    return torch.stack(hs, 1)


def _upcast(t):
    return None if t is None else (t if t.dtype == torch.float64 else t.float())


def diagonal_scan(x, g, initial_state=None, output_final_state=False, mode="chunk"):
    """h_t = exp(g_t) * h_{t-1} + x_t (elementwise). x, g: [B, T, *R] (g <= 0); initial_state: [B, *R].

    Returns (h [B, T, *R], h_T [B, *R] or None), in x's dtype (computed in float32 at least).
    """
    _check(x, g, initial_state, "g", mode)
    dtype = x.dtype
    x, g, h0 = _upcast(x), _upcast(g), _upcast(initial_state)
    if mode == "recurrent":
        h = _recurrent(x, g.exp(), h0)
    else:
        h = _DiagScan.apply(x, g, None, h0)
    return h.to(dtype), (h[:, -1].to(dtype) if output_final_state else None)


def signed_diagonal_scan(x, a, initial_state=None, output_final_state=False, mode="chunk"):
    """h_t = a_t * h_{t-1} + x_t (elementwise) with a signed transition a_t in [-1, 1].

    x, a: [B, T, *R]; initial_state: [B, *R]. Returns (h [B, T, *R], h_T [B, *R] or None). The chunked form
    works on log|a_t| and the sign parity; |a_t| below e^-60 counts as e^-60 there.
    """
    _check(x, a, initial_state, "a", mode)
    dtype = x.dtype
    x, a, h0 = _upcast(x), _upcast(a), _upcast(initial_state)
    if mode == "recurrent":
        h = _recurrent(x, a, h0)
    else:
        la = a.abs().clamp_min(math.exp(_MIN_LOG)).log()
        sign = (torch.sign(a) + (a == 0)).detach()  # a == 0 -> +1 (its magnitude is clamped anyway)
        h = _DiagScan.apply(x, la, sign, h0)
    return h.to(dtype), (h[:, -1].to(dtype) if output_final_state else None)
