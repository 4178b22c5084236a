"""Mamba-2 state-space duality (Dao & Gu 2024, Transformers are SSMs, Sec. 6 and Listing 1 "ssd_minimal"):

    h_t = exp(a_t) h_{t-1} + b_t x_t^T          h: [N, P] per head
    y_t = h_t^T c_t

``x: [B, T, H, P]``, ``a: [B, T, H]`` (log decay, <= 0), ``b, c: [B, T, H, N]``, state ``[B, H, N, P]``.
Returns ``(y [B, T, H, P] in x's dtype, final state [B, H, N, P] float32 (float64 for float64 inputs) or
None)``.

The recurrence is scalar-decay linear attention read with other names (the structural duality of SSMs and
linear attention, Dao & Gu 2024, Sec. 3-4): the state h is the [K, V] matrix S of ``simple_gla`` with keys
b, values x, queries c and one log decay a per head and step. So this module owns only its reference loop
and the signed variant's sign bookkeeping; every fast mode *is* ``simple_gla_core`` with
``q = c, k = b, v = x, g = a, scale = 1`` (its chunkwise form: in-chunk masked matmuls with weights
exp(segsum(a)) <= 1, states passed between chunks; or its compiled CPU loop).

``signed_ssd`` takes a signed transition ``a_t in [-1, 1]`` instead (Grazzi et al. 2025). With the sign
parity sigma_t = sign(a_1 ... a_t), the state h'_t = sigma_t h_t obeys h'_t = |a_t| h'_{t-1} + (sigma_t b_t) x_t^T
and y_t = h'_t^T (sigma_t c_t): the same ``simple_gla`` with g = log|a| and keys and queries multiplied by
sigma (exactly +-1), the final state multiplied back by sigma_T. |a| below e^-60 counts as e^-60 there.

Modes: ``"recurrent"`` (the loop above, the reference), ``"chunk"`` (``simple_gla`` chunk mode), ``"kernel"``
(``simple_gla``'s compiled CPU loop, which takes dg directly, so ``signed_ssd`` can use it too) and ``"auto"``
(``simple_gla``'s choice between the last two).
"""

from __future__ import annotations

import math

import torch

from rnnzoo.ops._common import autocast_safe, check_chunk_size, check_mode, upcast
from rnnzoo.ops.simple_gla import KERNEL, MODES, simple_gla_core  # noqa: F401 (KERNEL: read by backend_report)
from rnnzoo.ops.varlen import packable

_MIN_LOG = -60.0  # |a| below e^-60 counts as e^-60 in signed_ssd's chunked form


def _check(op, x, a, b, c, initial_state, mode, chunk_size):
    check_mode(op, mode, MODES)
    check_chunk_size(op, chunk_size)
    if x.dim() != 4:
        raise ValueError(f"x must be [B, T, H, P], got {tuple(x.shape)}")
    Bt, T, H, P = x.shape
    if T == 0:
        raise ValueError(f"x has an empty time dimension: shape {tuple(x.shape)}; need T >= 1")
    if a.shape != (Bt, T, H):
        raise ValueError(f"a must be [B, T, H]={(Bt, T, H)}, got {tuple(a.shape)}")
    if b.dim() != 4 or b.shape[:3] != (Bt, T, H) or c.shape != b.shape:
        raise ValueError(f"b and c must be [B, T, H, N] with [B, T, H]={(Bt, T, H)}, got b {tuple(b.shape)}, "
                         f"c {tuple(c.shape)}")
    if initial_state is not None and initial_state.shape != (Bt, H, b.shape[-1], P):
        raise ValueError(f"initial_state must be [B, H, N, P]={(Bt, H, b.shape[-1], P)}, got {tuple(initial_state.shape)}")


def _recurrent(x, decay, b, c, h0):
    """The loop above, token by token (steps taken by unbind: indexing [:, t] would make the backward pass
    add a zero-filled full-length gradient per step)."""
    Bt, T, H, P = x.shape
    h = x.new_zeros(Bt, H, b.shape[-1], P) if h0 is None else h0
    ys = []
    for a_t, b_t, c_t, x_t in zip(decay.unbind(1), b.unbind(1), c.unbind(1), x.unbind(1)):
        h = a_t[:, :, None, None] * h + b_t[:, :, :, None] * x_t[:, :, None, :]
        ys.append(torch.einsum("bhnp,bhn->bhp", h, c_t))
    return torch.stack(ys, 1), h


def _as_simple_gla(x, la, b, c, h0, mode, chunk_size, decay_grad_identity=True):
    """simple_gla's fast modes with q = c, k = b, v = x, g = la, scale = 1."""
    return simple_gla_core(c, b, x, la, 1.0, h0, mode, chunk_size, decay_grad_identity)


@packable("ssd")
@autocast_safe
def ssd(x, a, b, c, initial_state=None, output_final_state=False, mode="auto", chunk_size=64):
    """Mamba-2 SSD with log decay a <= 0. x: [B, T, H, P]; a: [B, T, H]; b, c: [B, T, H, N];
    initial_state: [B, H, N, P] or None. Returns (y [B, T, H, P], final_state [B, H, N, P] or None).
    """
    _check("ssd", x, a, b, c, initial_state, mode, chunk_size)
    dtype = x.dtype
    x, a, b, c, h0 = upcast(x, a, b, c, initial_state, op="ssd")
    if mode == "recurrent":
        y, h = _recurrent(x, a.exp(), b, c, h0)
    else:
        y, h = _as_simple_gla(x, a, b, c, h0, mode, chunk_size)
    return y.to(dtype), (h if output_final_state else None)


@packable("signed_ssd")
@autocast_safe
def signed_ssd(x, a, b, c, initial_state=None, output_final_state=False, mode="auto", chunk_size=64):
    """SSD with a signed per-head transition a in [-1, 1]: h_t = a_t h_{t-1} + b_t x_t^T, y_t = h_t^T c_t.

    x: [B, T, H, P]; a: [B, T, H]; b, c: [B, T, H, N]; initial_state: [B, H, N, P] or None.
    Returns (y [B, T, H, P], final_state [B, H, N, P] or None).
    """
    _check("signed_ssd", x, a, b, c, initial_state, mode, chunk_size)
    dtype = x.dtype
    x, a, b, c, h0 = upcast(x, a, b, c, initial_state, op="signed_ssd")
    if mode == "recurrent":
        y, h = _recurrent(x, a, b, c, h0)
    else:
        la = a.abs().clamp_min(math.exp(_MIN_LOG)).log()
        sigma = torch.where(a < 0, -1.0, 1.0).to(a.dtype).cumprod(1).detach()[..., None]  # exact +-1
        # la = log|a|: the decay-gradient identity's rounding would be amplified by 1/|a| near a = 0
        y, h = _as_simple_gla(x, la, b * sigma, c * sigma, h0, mode, chunk_size, decay_grad_identity=False)
        h = h * sigma[:, -1, :, :, None]
    return y.to(dtype), (h if output_final_state else None)
