"""Frame-prediction measures: per-step MSE and SSIM (Wang, Bovik, Sheikh & Simoncelli 2004) on [0, 1] frames."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def frame_mse(pred: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    """Mean squared error per future step, averaged over clips and pixels. [B, T, C, H, W] -> [T]."""
    return (pred - true).square().mean((0, 2, 3, 4))


def ssim(pred: torch.Tensor, true: torch.Tensor, window: int = 7, sigma: float = 1.5) -> torch.Tensor:
    """Mean SSIM per future step, frames in [0, 1] (C1 = 0.01^2, C2 = 0.03^2, Gaussian window, valid part).
    [B, T, C, H, W] -> [T]. A 7-pixel window (not 11) suits 32x32 frames."""
    if pred.shape != true.shape or pred.ndim != 5:
        raise ValueError(f"pred and true must both be [B, T, C, H, W], got {tuple(pred.shape)} and {tuple(true.shape)}")
    b, t, c, h, w = pred.shape
    x, y = pred.reshape(b * t * c, 1, h, w).double(), true.reshape(b * t * c, 1, h, w).double()
    g = torch.exp(-0.5 * ((torch.arange(window, dtype=torch.float64) - window // 2) / sigma) ** 2)
    kernel = (g[:, None] * g[None]) / g.sum() ** 2

    def blur(z):
        return F.conv2d(z, kernel[None, None])

    mx, my = blur(x), blur(y)
    vx, vy, cov = blur(x * x) - mx ** 2, blur(y * y) - my ** 2, blur(x * y) - mx * my
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    s = ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2))
    return s.view(b, t, -1).mean((0, 2)).float()
