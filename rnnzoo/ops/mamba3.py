"""Mamba-3's state-space recurrence (Lahoti et al. 2026, Mamba-3: Improved Sequence Modeling using State Space
Principles, Sec. 3): the generalised trapezoidal discretisation (eq. of Prop. 1) of a complex-valued SSM
(Sec. 3.2, realised as data-dependent rotary on B and C) with R input/output channels per head (MIMO, Sec. 3.3;
R = 1 is SISO):

    phi_t = phi_{t-1} + theta_t                                     cumulative rotation angle, [A] pairs
    k_t,r = rot(phi_t) b_t,r,   q_t,r = rot(phi_t) c_t,r            rotary on the first 2A state dims
    h_t = alpha_t h_{t-1} + beta_t sum_r k_{t-1,r} x_{t-1,r}^T + gamma_t sum_r k_t,r x_t,r^T
    y_t,r = h_t^T q_t,r
    alpha_t = exp(a_t),  beta_t = (1 - lam_t) dt_t alpha_t,  gamma_t = lam_t dt_t

``x: [B, T, H, R, P]``, ``a: [B, T, H]`` (log decay dt * A <= 0), ``dt, lam: [B, T, H]`` (step and trapezoid
weight in [0, 1]; lam = 1 is Euler), ``b, c: [B, T, H, R, N]``, ``theta: [B, T, H, A]`` with 2A <= N (per-step
angle increments of the pairs (2i, 2i+1)). The state is ``(phi [B, H, A], h [B, H, N, P], k_prev [B, H, R, N],
v_prev [B, H, R, P])``: the trapezoid's beta term reads the previous token's rotated key and input, so they are
part of the state (zero at the start: the first token has no previous input). ``phi`` is returned modulo 2 pi.

Modes: ``"recurrent"`` is the loop above (the reference, and the mixer's step). The fast modes (``"chunk"``,
``"kernel"``, ``"auto"``, as ``ssd``) use that the beta term of token s enters at s + 1 with the decay from s:
key s carries the weight gamma_s + (1 - lam_{s+1}) dt_{s+1} in one SSD (``rnnzoo.ops.ssd``) over the rotated keys,
and the diagonal term, which the SSD gives that whole weight although token s + 1 has not been read yet, is
corrected by - (1 - lam_{s+1}) dt_{s+1} (q_s . k_s) x_s (the last token of a call carries gamma only; its beta
term enters the next call through the state, folded into the initial h). MIMO runs the R x R (query, key)
channel pairs as one SSD with the key channel in the batch and the query channel in the heads.
"""

from __future__ import annotations

import math

import torch

from rnnzoo.ops._common import autocast_safe, check_chunk_size, check_mode, upcast
from rnnzoo.ops.simple_gla import KERNEL, MODES  # noqa: F401 (KERNEL: read by backend_report)
from rnnzoo.ops.ssd import ssd
from rnnzoo.ops.varlen import packable


def _check(x, a, dt, lam, b, c, theta, initial_state, mode, chunk_size):
    check_mode("mamba3", mode, MODES)
    check_chunk_size("mamba3", chunk_size)
    if x.dim() != 5 or x.shape[1] == 0:
        raise ValueError(f"mamba3: x must be [B, T, H, R, P] with T >= 1, got {tuple(x.shape)}")
    Bt, T, H, R, P = x.shape
    for name, t in (("a", a), ("dt", dt), ("lam", lam)):
        if t.shape != (Bt, T, H):
            raise ValueError(f"mamba3: {name} must be [B, T, H]={(Bt, T, H)}, got {tuple(t.shape)}")
    if b.dim() != 5 or b.shape[:4] != (Bt, T, H, R) or c.shape != b.shape:
        raise ValueError(f"mamba3: b and c must be [B, T, H, R, N] with [B, T, H, R]={(Bt, T, H, R)}, got b "
                         f"{tuple(b.shape)}, c {tuple(c.shape)}")
    N = b.shape[-1]
    if theta.dim() != 4 or theta.shape[:3] != (Bt, T, H) or 2 * theta.shape[-1] > N:
        raise ValueError(f"mamba3: theta must be [B, T, H, A] with 2A <= N={N}, got {tuple(theta.shape)}")
    if initial_state is not None:
        want = ((Bt, H, theta.shape[-1]), (Bt, H, N, P), (Bt, H, R, N), (Bt, H, R, P))
        got = tuple(tuple(s.shape) for s in initial_state) if isinstance(initial_state, tuple) else None
        if got != want:
            raise ValueError(f"mamba3: initial_state must be (phi, h, k_prev, v_prev) of shapes {want}, got {got}")


def rotate_pairs(x: torch.Tensor, phi: torch.Tensor) -> torch.Tensor:
    """x: [..., R, N]; phi: [..., A] with 2A <= N -> x with its pairs (2i, 2i+1), i < A, rotated by phi_i (the
    complex multiplication by e^{i phi}); the last N - 2A dims unrotated."""
    n = 2 * phi.shape[-1]
    cos, sin = phi.cos()[..., None, :], phi.sin()[..., None, :]
    x0, x1 = x[..., :n:2], x[..., 1:n:2]
    rotated = torch.stack((x0 * cos - x1 * sin, x0 * sin + x1 * cos), -1).flatten(-2)
    return torch.cat((rotated, x[..., n:]), -1)


def _zero_state(x, b, theta):
    Bt, _, H, R, P = x.shape
    N = b.shape[-1]
    return (x.new_zeros(Bt, H, theta.shape[-1]), x.new_zeros(Bt, H, N, P), x.new_zeros(Bt, H, R, N),
            x.new_zeros(Bt, H, R, P))


@packable("mamba3")
@autocast_safe
def mamba3(x, a, dt, lam, b, c, theta, initial_state=None, output_final_state=False, mode="auto", chunk_size=64):
    """Mamba-3 trapezoidal, rotary, multi-channel SSM (see the module docstring for the equations and shapes).

    Returns (y [B, T, H, R, P] in x's dtype, final state (phi [B, H, A], h [B, H, N, P], k_prev [B, H, R, N],
    v_prev [B, H, R, P]) in float32 (float64 for float64 inputs), or None)."""
    _check(x, a, dt, lam, b, c, theta, initial_state, mode, chunk_size)
    dtype = x.dtype
    state = initial_state or (None,) * 4
    x, a, dt, lam, b, c, theta, *state = upcast(x, a, dt, lam, b, c, theta, *state, op="mamba3")
    state = tuple(state) if initial_state is not None else _zero_state(x, b, theta)
    run = _recurrent if mode == "recurrent" else _fast
    y, (phi, h, k_prev, v_prev) = run(x, a, dt, lam, b, c, theta, state, mode, chunk_size)
    final = (torch.remainder(phi, 2 * math.pi), h, k_prev, v_prev) if output_final_state else None
    return y.to(dtype), final


def _recurrent(x, a, dt, lam, b, c, theta, state, mode, chunk_size):
    """The loop of the module docstring, token by token (steps by unbind: indexing would make backward add a
    full-length zero gradient per step)."""
    phi, h, k_prev, v_prev = state
    ys = []
    for x_t, a_t, dt_t, lam_t, b_t, c_t, th_t in zip(*(t.unbind(1) for t in (x, a, dt, lam, b, c, theta))):
        phi = phi + th_t
        k, q = rotate_pairs(b_t, phi), rotate_pairs(c_t, phi)
        alpha = a_t.exp()
        beta, gamma = (1 - lam_t) * dt_t * alpha, lam_t * dt_t
        h = (alpha[..., None, None] * h + beta[..., None, None] * torch.einsum("bhrn,bhrp->bhnp", k_prev, v_prev)
             + gamma[..., None, None] * torch.einsum("bhrn,bhrp->bhnp", k, x_t))
        ys.append(torch.einsum("bhrn,bhnp->bhrp", q, h))
        k_prev, v_prev = k, x_t
    return torch.stack(ys, 1), (phi, h, k_prev, v_prev)


def _fast(x, a, dt, lam, b, c, theta, state, mode, chunk_size):
    """One SSD over the rotated keys with weights gamma_s + (1 - lam_{s+1}) dt_{s+1}, minus the diagonal's
    unread part (module docstring)."""
    phi0, h0, k_prev, v_prev = state
    Bt, T, H, R, P = x.shape
    phi = phi0[:, None] + theta.cumsum(1)  # the loop's running sum, in the same order
    k, q = rotate_pairs(b, phi), rotate_pairs(c, phi)
    early = (1 - lam) * dt  # beta_t / alpha_t: the weight of token t - 1's input at step t, before the decay
    later = torch.cat((early[:, 1:], early.new_zeros(Bt, 1, H)), 1)  # ... seen from token t - 1
    h0 = h0 + early[:, 0, :, None, None] * torch.einsum("bhrn,bhrp->bhnp", k_prev, v_prev)
    kw = k * (lam * dt + later)[..., None, None]
    # (query channel r, key channel s): s in the batch, r in the heads; the initial state once, in s = 0
    fold = lambda t: t.movedim(3, 0)[:, :, :, :, None].expand(R, Bt, T, H, R, t.shape[-1]).reshape(R * Bt, T, H * R, -1)  # noqa: E731
    qf = q[None].expand(R, *q.shape).reshape(R * Bt, T, H * R, -1)
    af = a[None, ..., None].expand(R, Bt, T, H, R).reshape(R * Bt, T, H * R)
    s0 = torch.cat((h0[None], h0.new_zeros(R - 1, *h0.shape)))[:, :, :, None].expand(R, Bt, H, R, *h0.shape[2:])
    y, h = ssd(fold(x), af, fold(kw), qf, s0.reshape(R * Bt, H * R, *h0.shape[2:]), output_final_state=True,
               mode=mode, chunk_size=chunk_size)
    y = y.reshape(R, Bt, T, H, R, P).sum(0)
    h = h.reshape(R, Bt, H, R, *h0.shape[2:])[:, :, :, 0].sum(0)
    y = y - later[..., None, None] * torch.einsum("bthrn,bthsn,bthsp->bthrp", q, k, x)
    return y, (phi[:, -1], h, k[:, -1], x[:, -1])
