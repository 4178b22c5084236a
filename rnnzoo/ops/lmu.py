"""The Legendre Memory Unit's memory (Voelker et al. 2019, Legendre Memory Units, eqs. 1-2 and 19), a fixed
linear time-invariant system that keeps the Legendre coefficients of the last ``theta`` steps of its input:

    A_ij = (2i + 1)/theta * (-1 if i < j else (-1)^(i - j + 1)),   B_i = (2i + 1)/theta * (-1)^i     (order q)
    Abar, Bbar = ZOH(A, B, dt = 1):  exp([[A, B], [0, 0]]) = [[Abar, Bbar], [0, 1]]
    m_t = Abar m_{t-1} + Bbar u_t                        per input channel; m: [q]

Shapes: ``u: [B, T, C]`` (C independent input channels sharing A, B); ``Abar: [q, q]``, ``Bbar: [q]``; memory
``m: [B, T, C, q]``; state ``[B, C, q]``. Modes: ``"recurrent"`` (the loop above) and ``"fft"`` (Chilkuri &
Eliasmith 2021, Parallelizing Legendre Memory Unit Training: m = H * u, a causal convolution with the impulse
response H_k = Abar^k Bbar by FFT; an initial state adds Abar^(t+1) m_0). Powers of Abar are built by
doubling (log2 T matrix products), so H costs O(q^2 T), not T sequential steps.
"""

from __future__ import annotations

import torch

from rnnzoo.ops._common import autocast_safe, check_float, check_mode, compute_dtype
from rnnzoo.ops.varlen import packable

MODES = ("recurrent", "fft")


def legendre_state_space(order: int, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The continuous Legendre delay system (A [q, q], B [q]) in float64 (Voelker et al. 2019, eq. 2)."""
    if order < 1 or theta <= 0:
        raise ValueError(f"need order >= 1 and theta > 0, got order={order}, theta={theta}")
    q = torch.arange(order, dtype=torch.float64)
    r = (2 * q + 1) / theta
    i, j = q[:, None], q[None, :]
    A = torch.where(i < j, -1.0, (-1.0) ** (i - j + 1)) * r[:, None]
    return A, (-1.0) ** q * r


def zoh(A: torch.Tensor, B: torch.Tensor, dt: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero-order hold of dm/dt = A m + B u: (Abar [q, q], Bbar [q]) from the exponential of the augmented
    matrix [[A, B], [0, 0]] dt, whose top row is [Abar, Bbar] (float64)."""
    q = A.shape[0]
    M = torch.zeros(q + 1, q + 1, dtype=torch.float64)
    M[:q, :q], M[:q, q] = A, B
    E = torch.linalg.matrix_exp(M * dt)
    return E[:q, :q], E[:q, q]


def _apply_powers(Abar: torch.Tensor, V: torch.Tensor, T: int) -> torch.Tensor:
    """[Abar^k V for k < T]: [T, q, n] from V [q, n], by doubling (Abar^(k+n) V = Abar^n (Abar^k V))."""
    out = V.unsqueeze(0)
    P = Abar
    while out.shape[0] < T:
        out = torch.cat((out, torch.matmul(P, out)), 0)
        P = P @ P
    return out[:T]


@packable("lmu_memory")
@autocast_safe
def lmu_memory(u, Abar, Bbar, initial_state=None, output_final_state=False, mode="fft"):
    """m_t = Abar m_{t-1} + Bbar u_t per channel. u: [B, T, C]; Abar: [q, q]; Bbar: [q]; initial_state: [B, C, q].

    Returns (m [B, T, C, q] in u's dtype, m_T [B, C, q] float32 (float64 for float64 u or state) or None). The
    compute dtype follows u and the state, not Abar, Bbar (a float64 buffer of a float32 module stays float32 work).
    """
    check_mode("lmu_memory", mode, MODES)
    q = Abar.shape[0]
    if u.dim() != 3 or Abar.shape != (q, q) or Bbar.shape != (q,):
        raise ValueError(f"need u [B, T, C], Abar [q, q], Bbar [q]; got {tuple(u.shape)}, {tuple(Abar.shape)}, "
                         f"{tuple(Bbar.shape)}")
    batch, T, C = u.shape
    if initial_state is not None and initial_state.shape != (batch, C, q):
        raise ValueError(f"initial_state must be [B, C, q]={(batch, C, q)}, got {tuple(initial_state.shape)}")
    dtype = u.dtype
    check_float(Abar, Bbar, op="lmu_memory")
    work = compute_dtype(u, initial_state, op="lmu_memory")
    u, Abar, Bbar = u.to(work), Abar.to(work), Bbar.to(work)
    m0 = None if initial_state is None else initial_state.to(work)
    if mode == "recurrent":
        m = _recurrent(u, Abar, Bbar, m0)
    else:
        m = _fft(u, Abar, Bbar, m0)
    return m.to(dtype), (m[:, -1] if output_final_state else None)


def _recurrent(u, Abar, Bbar, m0):
    m = u.new_zeros(u.shape[0], u.shape[2], Abar.shape[0]) if m0 is None else m0
    ms = []
    for u_t in u.unbind(1):
        m = m @ Abar.T + u_t.unsqueeze(-1) * Bbar
        ms.append(m)
    return torch.stack(ms, 1)


def _fft(u, Abar, Bbar, m0):
    batch, T, C = u.shape
    H = _apply_powers(Abar, Bbar.unsqueeze(-1), T)[..., 0]  # [T, q]: H_k = Abar^k Bbar
    n = 2 * T  # zero padding to 2T makes the circular convolution causal
    U = torch.fft.rfft(u, n=n, dim=1)  # [B, n/2+1, C]
    Hf = torch.fft.rfft(H, n=n, dim=0)  # [n/2+1, q]
    m = torch.fft.irfft(U.unsqueeze(-1) * Hf[:, None], n=n, dim=1)[:, :T]  # [B, T, C, q]
    if m0 is not None:  # + Abar^(t+1) m_0
        V = (m0 @ Abar.T).reshape(-1, Abar.shape[0]).T  # [q, B*C]
        m = m + _apply_powers(Abar, V, T).permute(2, 0, 1).reshape(batch, C, T, -1).transpose(1, 2)
    return m
