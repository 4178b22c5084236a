"""Long-term reconstruction measures of Hess et al. 2023 (and Koppe et al. 2019, Mikhaeil et al. 2022).

- ``state_space_divergence`` D_stsp: KL(p_true || p_gen) between occupation densities binned on a grid of
  ``bins`` per dimension over the true trajectory's range (padded by 10%), with ``eps`` added to every bin
  of the generated density before renormalising (a bin the model never visits costs log(p / eps) times its
  true mass, so ``eps`` sets the penalty for missing parts of the attractor). Systems with more than 3 dimensions are binned on their first 3 (the binned
  measure is meant for low dimensions; the paper's Gaussian-mixture variant is not implemented).
- ``power_spectrum_distance`` D_H: per dimension, the Hellinger distance between the normalised power
  spectra of the standardised series, each smoothed by a Gaussian kernel of width ``sigma`` bins, averaged
  over dimensions. 0: identical, 1: disjoint.

Both take [T, N] arrays (any lengths); a generated trajectory that is not finite scores inf / 1.
"""

from __future__ import annotations

import numpy as np


def state_space_divergence(true: np.ndarray, gen: np.ndarray, bins: int = 30, eps: float = 1e-6) -> float:
    """D_stsp (see module). true: [T, N], gen: [T', N] -> float (nats)."""
    true, gen = np.asarray(true, np.float64)[:, :3], np.asarray(gen, np.float64)[:, :3]
    if not np.isfinite(gen).all():
        return float("inf")
    lo, hi = true.min(0), true.max(0)
    pad = 0.1 * (hi - lo)
    edges = [np.linspace(a, b, bins + 1) for a, b in zip(lo - pad, hi + pad)]
    p = np.histogramdd(true, edges)[0].ravel()
    q = np.histogramdd(gen, edges)[0].ravel()
    p = p / p.sum()
    q = q / max(q.sum(), 1.0) + eps  # generated states outside the grid count as nowhere: that mass is lost
    q = q / q.sum()
    keep = p > 0
    return float(np.sum(p[keep] * np.log(p[keep] / q[keep])))


def power_spectrum_distance(true: np.ndarray, gen: np.ndarray, sigma: float = 2.0) -> float:
    """D_H (see module). true, gen: [T, N] with the same T -> float in [0, 1]."""
    true, gen = np.asarray(true, np.float64), np.asarray(gen, np.float64)
    if true.shape != gen.shape:
        raise ValueError(f"true and generated trajectories must have one shape, got {true.shape} and {gen.shape}")
    if not np.isfinite(gen).all():
        return 1.0
    out = []
    for i in range(true.shape[1]):
        p, q = _spectrum(true[:, i], sigma), _spectrum(gen[:, i], sigma)
        out.append(np.sqrt(max(0.0, 1.0 - np.sum(np.sqrt(p * q)))))
    return float(np.mean(out))


def _spectrum(x: np.ndarray, sigma: float) -> np.ndarray:
    x = (x - x.mean()) / (x.std() + 1e-12)
    power = np.abs(np.fft.rfft(x)) ** 2
    r = int(np.ceil(4 * sigma))
    kernel = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    power = np.convolve(power, kernel / kernel.sum(), mode="same")
    return power / power.sum()
