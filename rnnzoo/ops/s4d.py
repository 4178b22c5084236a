"""S4D: diagonal state spaces (Gu et al. 2022, On the Parameterization and Initialization of Diagonal State
Space Models, eqs. 5-7 with ZOH; the ``S4DKernel`` of state-spaces/s4 ``s4d.py``; LSSL view: the same SSM
run as a recurrence).

Per channel h (H channels), N2 = d_state/2 complex modes (the conjugate half is implicit, hence the 2 Re):

    dt = exp(log_dt);  A = -exp(log_A_real) + i A_imag;  dA = exp(dt A);  dB = (exp(dt A) - 1) / A   (ZOH, B = 1)
    h_t = dA h_{t-1} + dB u_t                 (complex, [N2] per channel)
    y_t = 2 Re(C . h_t) + D u_t
    kernel K_l = 2 Re(sum_n C_n dB_n dA_n^l)  (a Vandermonde product);  y = K * u + D u (causal convolution)

Shapes: ``u: [B, T, H]``; ``log_dt: [H]``; ``log_A_real, A_imag: [H, N2]``; ``C: [H, N2]`` complex; ``D: [H]``;
state ``[B, H, N2]`` complex. Modes: ``"recurrent"`` (the loop above) and ``"fft"`` (kernel by Vandermonde
product, convolution by FFT, the initial state's contribution and the final state by Vandermonde products too).
"""

from __future__ import annotations

import math

import torch

from rnnzoo.ops._common import autocast_safe, check_mode, upcast
from rnnzoo.ops.varlen import packable

MODES = ("recurrent", "fft")


def s4d_init(H: int, N2: int, init: str = "lin", dt_min: float = 1e-3, dt_max: float = 1e-1,
             generator: torch.Generator | None = None):
    """(log_dt [H], log_A_real [H, N2], A_imag [H, N2], C [H, N2] complex) for S4D-Lin or S4D-Inv.

    S4D-Lin: A_n = -1/2 + i pi n.  S4D-Inv: A_n = -1/2 + i (N/pi) (N/(2n+1) - 1), N = 2 N2.
    log_dt is log-uniform in [dt_min, dt_max]; C ~ CN(0, 1).
    """
    if init not in ("lin", "inv"):
        raise ValueError(f"init must be 'lin' or 'inv', got {init!r}")
    log_dt = torch.rand(H, generator=generator) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)
    n = torch.arange(N2, dtype=torch.float32)
    imag = math.pi * n if init == "lin" else (2 * N2 / math.pi) * (2 * N2 / (2 * n + 1) - 1)
    C = torch.randn(H, N2, dtype=torch.cfloat, generator=generator)
    return log_dt, torch.full((H, N2), math.log(0.5)), imag.repeat(H, 1), C


def _discretize(log_dt, log_A_real, A_imag):
    A = torch.complex(-torch.exp(log_A_real), A_imag)
    dtA = A * torch.exp(log_dt)[:, None]
    return dtA, (torch.exp(dtA) - 1) / A  # log dA, dB


def _powers(dtA, L: int, offset: int = 0):
    """dA^(l + offset) for l in 0..L-1: [H, N2, L]."""
    steps = torch.arange(offset, L + offset, device=dtA.device, dtype=dtA.real.dtype)
    # as magnitude and angle: the complex exp is ~3x slower on CPU than a real exp plus polar
    return torch.polar(torch.exp(dtA.real[..., None] * steps), dtA.imag[..., None] * steps)


def s4d_kernel(log_dt, log_A_real, A_imag, C, L: int):
    """The S4D convolution kernel K: [H, L], K_l = 2 Re(sum_n C_n dB_n dA_n^l) (ZOH)."""
    dtA, dB = _discretize(log_dt, log_A_real, A_imag)
    return 2 * torch.einsum("hn,hnl->hl", C * dB, _powers(dtA, L)).real


def _check(u, log_dt, log_A_real, A_imag, C, D, initial_state, mode):
    check_mode("s4d_conv", mode, MODES)
    if u.dim() != 3:
        raise ValueError(f"u must be [B, T, H], got {tuple(u.shape)}")
    Bt, _, H = u.shape
    if log_dt.shape != (H,) or (D is not None and D.shape != (H,)):
        raise ValueError(f"log_dt and D must be [H]=[{H}], got {tuple(log_dt.shape)}, "
                         f"{None if D is None else tuple(D.shape)}")
    if log_A_real.dim() != 2 or log_A_real.shape[0] != H or A_imag.shape != log_A_real.shape or C.shape != log_A_real.shape:
        raise ValueError(f"log_A_real, A_imag, C must be [H, N2] with H={H}, got {tuple(log_A_real.shape)}, "
                         f"{tuple(A_imag.shape)}, {tuple(C.shape)}")
    if not C.is_complex():
        raise ValueError(f"C must be complex, got {C.dtype}")
    if initial_state is not None and initial_state.shape != (Bt, H, C.shape[1]):
        raise ValueError(f"initial_state must be [B, H, N2]={(Bt, H, C.shape[1])}, got {tuple(initial_state.shape)}")


@packable("s4d_conv")
@autocast_safe
def s4d_conv(u, log_dt, log_A_real, A_imag, C, D=None, initial_state=None, output_final_state=False, mode="fft"):
    """Run the S4D SSM over u: [B, T, H] with log_dt, D: [H], log_A_real, A_imag, C (complex): [H, N2] and
    initial_state: [B, H, N2] complex or None. Returns (y [B, T, H] in u's dtype, final state [B, H, N2]
    complex64 (complex128 for float64 inputs) or None)."""
    _check(u, log_dt, log_A_real, A_imag, C, D, initial_state, mode)
    dtype = u.dtype
    u, log_dt, log_A_real, A_imag, D = upcast(u, log_dt, log_A_real, A_imag, D, op="s4d_conv")
    real = u.dtype
    C = C.to(torch.complex128 if real == torch.float64 else torch.complex64)
    h0 = None if initial_state is None else initial_state.to(C.dtype)
    dtA, dB = _discretize(log_dt, log_A_real, A_imag)
    T = u.shape[1]
    if mode == "recurrent":
        dA = torch.exp(dtA)
        h = torch.zeros(u.shape[0], *C.shape, dtype=C.dtype, device=u.device) if h0 is None else h0
        ys = []
        for u_t in u.unbind(1):  # unbind: indexing per step makes backward quadratic in T
            h = dA * h + dB * u_t[:, :, None]
            ys.append(2 * (h * C).sum(-1).real)
        y = torch.stack(ys, 1)
    else:
        powers = _powers(dtA, T)  # [H, N2, T]
        k = 2 * torch.einsum("hn,hnl->hl", C * dB, powers).real
        n = 2 * T  # zero-padded so the circular convolution is the causal one
        # time made the last, contiguous dim first (an FFT over a strided dim copies at every call)
        u_f = torch.fft.rfft(u.transpose(1, 2).contiguous(), n=n)
        y = torch.fft.irfft(u_f * torch.fft.rfft(k, n=n), n=n)[..., :T].transpose(1, 2)
        if h0 is not None:  # h0 decays into every output: y_t += 2 Re(C dA^(t+1) h0)
            y = y + 2 * torch.einsum("hn,hnl,bhn->blh", C, powers * torch.exp(dtA)[..., None], h0).real
        h = None
        if output_final_state:  # h_T = dA^T h0 + sum_s dA^(T-1-s) dB u_s
            h = torch.einsum("hnl,blh->bhn", powers.flip(-1) * dB[..., None], u.to(C.dtype))
            if h0 is not None:
                h = h + torch.exp(dtA * T) * h0
    if D is not None:
        y = y + u * D
    return y.to(dtype), (h if output_final_state else None)
