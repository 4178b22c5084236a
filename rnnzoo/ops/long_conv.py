"""Causal long convolution with a skip term, per channel: Hyena's ``fftconv`` (Poli et al. 2023, Hyena Hierarchy,
eq. 3 and Algorithm 3; safari ``hyena.py``), with the inputs before the call carried as a window:

    y_t = sum_{j=0}^{L-1} k_j u_{t-j} + D u_t          (u_s = 0 before the first token)

Shapes: ``u: [B, T, H]``; ``k: [H, L]`` (the filter, lag 0 first); ``D: [H]`` or None; ``initial_state:
[B, H, S]``, any ``S >= 0``: the S inputs just before ``u`` (older inputs count as zero, so a caller that
knows how many tokens came before may pass only those). Final state ``[B, H, L-1]``: the window the next
call needs (zeros where no input was seen). Modes: ``"recurrent"`` (the sum above token by token) and
``"fft"`` (one zero-padded FFT convolution of the window and ``u``, sized so that nothing wraps around).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from rnnzoo.ops._common import autocast_safe, check_mode, upcast
from rnnzoo.ops.varlen import packable

MODES = ("recurrent", "fft")


def _check(u, k, D, initial_state, mode):
    check_mode("long_conv", mode, MODES)
    if u.dim() != 3 or u.shape[1] == 0:
        raise ValueError(f"u must be [B, T, H] with T >= 1, got {tuple(u.shape)}")
    H = u.shape[2]
    if k.dim() != 2 or k.shape[0] != H or k.shape[1] < 1:
        raise ValueError(f"k must be [H, L] with H={H}, L >= 1, got {tuple(k.shape)}")
    if D is not None and D.shape != (H,):
        raise ValueError(f"D must be [H]=[{H}], got {tuple(D.shape)}")
    if initial_state is not None and (initial_state.dim() != 3 or initial_state.shape[:2] != (u.shape[0], H)):
        raise ValueError(f"initial_state must be [B, H, S]=[{u.shape[0]}, {H}, S], got {tuple(initial_state.shape)}")


def fast_fft_size(n: int) -> int:
    """The smallest 2, 3, 5-smooth integer >= n (pocketfft is slow on sizes with large prime factors)."""
    m = n
    while True:
        r = m
        for p in (2, 3, 5):
            while r % p == 0:
                r //= p
        if r == 1:
            return m
        m += 1


@packable("long_conv")
@autocast_safe
def long_conv(u, k, D=None, initial_state=None, output_final_state=False, mode="fft"):
    """u: [B, T, H], k: [H, L] -> (y [B, T, H] in u's dtype, final window [B, H, L-1] float32 (float64 for
    float64 inputs) or None). See the module docstring."""
    _check(u, k, D, initial_state, mode)
    dtype = u.dtype
    u, k, D, past = upcast(u, k, D, initial_state, op="long_conv")
    B, T, H = u.shape
    L = k.shape[1]
    past = u.new_zeros(B, H, 0) if past is None else past
    window = torch.cat((past, u.transpose(1, 2)), dim=-1)  # [B, H, S+T]
    S = past.shape[-1]
    if mode == "recurrent":
        padded = F.pad(window, (L - 1, 0))  # lag j of token t is padded[..., L-1+S+t-j]
        taps = k.flip(-1)  # taps[i] multiplies the input L-1-i steps back
        ys = [(padded[..., S + t:S + t + L] * taps).sum(-1) for t in range(T)]
        y = torch.stack(ys, dim=1)
    else:
        # wide enough that lags reaching before the window land in zero padding, not on later inputs
        n = fast_fft_size(max(S + T, T + L - 1))
        y = torch.fft.irfft(torch.fft.rfft(window, n=n) * torch.fft.rfft(k, n=n), n=n)[..., S:S + T]
        y = y.transpose(1, 2)
    if D is not None:
        y = y + u * D
    final = None
    if output_final_state:
        padded = F.pad(window, (L - 1, 0))
        final = padded[..., padded.shape[-1] - (L - 1):]
    return y.to(dtype), final
