"""Diagonal linear scans: h_t = a_t * h_{t-1} + x_t, elementwise, the core of every diagonal SSM.

Two public ops share one fast core:

* ``diagonal_scan(x, g, ...)``: decay ``a_t = exp(g_t)`` with log decay ``g_t <= 0`` (S4D, Mamba S6).
* ``signed_diagonal_scan(x, a, ...)``: a signed transition ``a_t in [-1, 1]`` (Grazzi et al. 2025,
  Unlocking State-Tracking in Linear RNNs Through Negative Eigenvalues), multiplied in as it is.

Layout: time is dim 1, any trailing dims: ``x, g, a: [B, T, *R]``, state ``[B, *R]``. Both return
``(h [B, T, *R] in x's dtype, final_state [B, *R] float32 (float64 for float64 inputs) or None)``.

Log-space form (``diagonal_scan`` only, ``mode="log"``): Feng et al. 2024 (Were RNNs All We Needed?,
Appendix B; Heinsen 2023), h_t = exp(A_t + logcumsumexp_s(log x_s - A_s)) with A = cumsum(g), so no
exp(-cumsum) overflows. x is split into its positive and negative parts (each a positive scan); it runs in
chunks of ``_LOG_CHUNK`` tokens with chunk-local A (so A_t - A_s keeps float32 precision at any T),
joined by a loop over chunks. Its backward pass is the same reverse scan in the same form.

Fast form (``mode="chunk"``): a chunked scan with about 2 sqrt(2T) vectorised steps instead of T
(``_scan``): the recurrence runs inside all chunks at once, chunks are joined by a loop over chunks. It
multiplies transitions only (no exp(-cumsum), no division), so it is exact for any decay and for signed
transitions without a log/sign split, and never overflows; strong decays just underflow to 0 as in the
recurrence. The backward pass is itself a reverse scan (``lambda_t = dh_t + a_{t+1} lambda_{t+1}``), so
autograd stores only the transitions and ``h``.
"""

from __future__ import annotations

import math

import torch

from rnnzoo.ops._common import autocast_safe, check_mode, upcast
from rnnzoo.ops.varlen import packable

MODES = ("recurrent", "chunk")
LOG_MODES = ("recurrent", "chunk", "log")  # diagonal_scan's modes: log decays also have the log-space form
_LOG_CHUNK = 16  # tokens per chunk of the log form: |A| <= 16 max|g|, whose float32 ulp is the relative error


def _chunk_len(T: int) -> int:
    """Chunk length c ~ sqrt(T / 2): the chunked scan takes about 2c + T/c vectorised steps."""
    return max(1, int(math.sqrt(T / 2)))


def _scan(x: torch.Tensor, a: torch.Tensor, h0: torch.Tensor | None, out: torch.Tensor,
          reverse: bool = False) -> torch.Tensor:
    """h_t = a_t h_{t-1} + x_t over dim 1 of [B, T, R] (reverse: h_t = a_t h_{t+1} + x_t), written into out.

    No autograd inside, no exponentials, no division: only products of transitions, so any a (signed, 0,
    decays that underflow) is handled exactly like the recurrence does. Tokens are cut into nc chunks of c
    (the ragged rest runs as plain steps after them). Pass 1 runs the recurrence inside all chunks at once
    from a zero state (c steps on [B, nc, R]) to get each chunk's own end state; a loop over chunks turns
    those and each chunk's product of transitions into the state entering every chunk; pass 2 reruns the
    recurrence inside all chunks from those states and writes h.
    """
    B, T, R = x.shape
    c = _chunk_len(T)
    nc = T // c if c > 1 else 0
    main = nc * c
    region = slice(T - main, T) if reverse else slice(0, main)
    rest = range(T - main - 1, -1, -1) if reverse else range(main, T)
    carry = h0
    if nc:
        xc, ac, hc = (t[:, region].view(B, nc, c, R) for t in (x, a, out))
        steps = range(c - 1, -1, -1) if reverse else range(c)
        first, later = steps[0], steps[1:]
        ends = xc[:, :, first].clone()
        for i in later:
            torch.addcmul(xc[:, :, i], ac[:, :, i], ends, out=ends)
        total = ac.prod(2)  # [B, nc, R]: each chunk's product of transitions (underflow to 0 is exact enough)
        starts = torch.empty_like(ends)
        for k in (range(nc - 1, -1, -1) if reverse else range(nc)):
            if carry is None:
                starts[:, k].zero_()
                carry = ends[:, k]
            else:
                starts[:, k] = carry
                carry = torch.addcmul(ends[:, k], total[:, k], carry)
        prev = starts
        for i in steps:
            torch.addcmul(xc[:, :, i], ac[:, :, i], prev, out=hc[:, :, i])
            prev = hc[:, :, i]
    for t in rest:
        if carry is None:
            out[:, t] = x[:, t]
        else:
            torch.addcmul(x[:, t], a[:, t], carry, out=out[:, t])
        carry = out[:, t]
    return out


def _log_scan(x: torch.Tensor, g: torch.Tensor, h0: torch.Tensor | None, reverse: bool = False) -> torch.Tensor:
    """h_t = exp(g_t) h_{t-1} + x_t over dim 1 of [B, T, R] in log space (reverse: h_t = exp(g_t) h_{t+1} + x_t).

    No autograd inside. Per chunk of c tokens, A = cumsum(g) from the chunk start and each sign of x is a
    positive scan exp(A_t + logcumsumexp(log |x_s| - A_s)) (log 0 = -inf drops the other sign's tokens);
    a loop over chunks adds exp(A_t) times the state entering the chunk.
    """
    if reverse:
        return _log_scan(x.flip(1), g.flip(1), h0).flip(1)
    B, T, R = x.shape
    c = min(_LOG_CHUNK, T)
    nc = -(-T // c)
    pad = nc * c - T
    if pad:  # tokens after the end change nothing before it
        x, g = (torch.cat((t, t.new_zeros(B, pad, R)), 1) for t in (x, g))
    xs = x.view(B, nc, c, R)
    A = g.view(B, nc, c, R).cumsum(2)
    h = _positive_scan(xs.clamp(min=0), A)
    if (xs < 0).any():
        h -= _positive_scan(xs.neg().clamp_(min=0), A)
    decay = A.exp()
    carry = h0
    for k in range(nc):
        if carry is not None:
            h[:, k].addcmul_(decay[:, k], carry.unsqueeze(1))
        carry = h[:, k, -1]
    return h.view(B, nc * c, R)[:, :T]


def _positive_scan(v: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
    """sum_{s<=t} exp(A_t - A_s) v_s along dim 2 of [B, nc, c, R] for v >= 0, as exp(A_t + logcumsumexp(log v_s
    - A_s)). The logcumsumexp is c vectorised logaddexp steps over [B, nc, R]: torch.logcumsumexp walks dim 2
    element by element on CPU, about 6x slower."""
    w = v.log_().sub_(A)
    for i in range(1, w.shape[2]):
        torch.logaddexp(w[:, :, i - 1], w[:, :, i], out=w[:, :, i])
    return w.add_(A).exp_()


class _DiagScan(torch.autograd.Function):
    """h = scan(x, a) with a = w (signed transitions) or a = exp(w) (log decays, ``log=True``), h0 optional.

    Backward is the reverse scan lambda_t = dh_t + a_{t+1} lambda_{t+1}; then dx = lambda, da_t = lambda_t
    h_{t-1}, dh0 = a_1 lambda_1 (and dw = da * a for log decays). Works on [B, T, R] (R flattened).
    ``in_log_space``: both scans run in the log-space form (``_log_scan``; w must be log decays)."""

    @staticmethod
    def forward(ctx, x, w, h0, log, in_log_space=False):
        shape = x.shape
        x, w = x.reshape(shape[0], shape[1], -1).contiguous(), w.reshape(shape[0], shape[1], -1).contiguous()
        h0 = None if h0 is None else h0.reshape(shape[0], -1)
        with torch.no_grad():
            a = w.exp() if log else w
            h = _log_scan(x, w, h0) if in_log_space else _scan(x, a, h0, torch.empty_like(x))
        ctx.save_for_backward(a, h, h0, w if in_log_space else None)
        ctx.log, ctx.shape = log, shape
        return h.view(shape)

    @staticmethod
    def backward(ctx, dh):
        a, h, h0, g = ctx.saved_tensors
        B, T, R = h.shape
        dh = dh.reshape(B, T, R).contiguous()
        lam = torch.empty_like(dh)
        lam[:, -1] = dh[:, -1]
        if T > 1 and g is not None:
            lam[:, :-1] = _log_scan(dh[:, :-1], g[:, 1:], lam[:, -1], reverse=True)
        elif T > 1:  # lambda_t = a_{t+1} lambda_{t+1} + dh_t over t < T-1, from lambda_{T-1} = dh_{T-1}
            _scan(dh[:, :-1], a[:, 1:], lam[:, -1], lam[:, :-1], reverse=True)
        da = torch.empty_like(lam)
        torch.mul(lam[:, 1:], h[:, :-1], out=da[:, 1:])
        if h0 is None:
            da[:, 0].zero_()
        else:
            torch.mul(lam[:, 0], h0, out=da[:, 0])
        if ctx.log:
            da.mul_(a)
        dh0 = None if h0 is None else (a[:, 0] * lam[:, 0]).view(ctx.shape[:1] + ctx.shape[2:])
        return lam.view(ctx.shape), da.view(ctx.shape), dh0, None, None


def _check(op: str, x, decay, h0, name: str, mode: str, modes: tuple[str, ...] = MODES) -> None:
    check_mode(op, mode, modes)
    if x.dim() < 2 or x.shape != decay.shape:
        raise ValueError(f"x and {name} must both be [B, T, ...] with equal shapes, got x {tuple(x.shape)}, "
                         f"{name} {tuple(decay.shape)}")
    if h0 is not None and h0.shape != x.shape[:1] + x.shape[2:]:
        raise ValueError(f"initial_state must be [B, ...]={tuple(x.shape[:1] + x.shape[2:])}, got {tuple(h0.shape)}")


def _recurrent(x, a, h0):
    """The loop h_t = a_t h_{t-1} + x_t (steps by unbind: indexing [:, t] would make the backward pass add a
    zero-filled full-length gradient per step, quadratic in T)."""
    h = torch.zeros_like(x[:, 0]) if h0 is None else h0
    hs = []
    for a_t, x_t in zip(a.unbind(1), x.unbind(1)):
        h = a_t * h + x_t
        hs.append(h)
    return torch.stack(hs, 1)


@packable("diagonal_scan")
@autocast_safe
def diagonal_scan(x, g, initial_state=None, output_final_state=False, mode="chunk"):
    """h_t = exp(g_t) * h_{t-1} + x_t (elementwise). x, g: [B, T, *R] (g <= 0); initial_state: [B, *R].

    Modes: ``LOG_MODES`` ("log": the log-space form of the module docstring).
    Returns (h [B, T, *R] in x's dtype, h_T [B, *R] float32 (float64 for float64 inputs) or None).
    """
    _check("diagonal_scan", x, g, initial_state, "g", mode, LOG_MODES)
    dtype = x.dtype
    x, g, h0 = upcast(x, g, initial_state, op="diagonal_scan")
    if mode == "recurrent":
        h = _recurrent(x, g.exp(), h0)
    else:
        if mode == "log" and torch.isneginf(g).any():  # A_t - A_s would be -inf - -inf: use "chunk" or "recurrent"
            raise ValueError('diagonal_scan: mode="log" needs finite gates g (got -inf); mode="chunk" takes them')
        h = _DiagScan.apply(x, g, h0, True, mode == "log")
    return h.to(dtype), (h[:, -1] if output_final_state else None)


@packable("signed_diagonal_scan")
@autocast_safe
def signed_diagonal_scan(x, a, initial_state=None, output_final_state=False, mode="chunk"):
    """h_t = a_t * h_{t-1} + x_t (elementwise) with a signed transition a_t in [-1, 1].

    x, a: [B, T, *R]; initial_state: [B, *R]. Returns (h [B, T, *R] in x's dtype, h_T [B, *R] float32 (float64
    for float64 inputs) or None). The chunked form multiplies the signed transitions directly, so it is exact
    for any a, 0 and sign flips included.
    """
    _check("signed_diagonal_scan", x, a, initial_state, "a", mode)
    dtype = x.dtype
    x, a, h0 = upcast(x, a, initial_state, op="signed_diagonal_scan")
    if mode == "recurrent":
        h = _recurrent(x, a, h0)
    else:
        h = _DiagScan.apply(x, a, h0, False)
    return h.to(dtype), (h[:, -1] if output_final_state else None)
