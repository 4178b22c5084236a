"""AR-Net (Triebe et al. 2019, AR-Net: A simple Auto-Regressive Neural Network for time-series): a single
linear layer from the last p values to the next H, trained by SGD, with the paper's sparsity regulariser
(c1 = c2 = 3) that drives the weights of unneeded lags to zero when p is over-specified:

    R(w) = 1/p * sum_i ( 2 / (1 + exp(-c1 * |w_i|^(1/c2))) - 1 )

Channels are forecast independently with shared weights.
"""

from __future__ import annotations

import torch
from torch import nn


class ARNet(nn.Module):
    """x [B, p, C] (oldest first) -> forecast [B, H, C]; ``sparsity`` weights ``penalty``."""

    def __init__(self, lags: int, horizon: int, sparsity: float = 0.0):
        super().__init__()
        self.linear = nn.Linear(lags, horizon)
        nn.init.zeros_(self.linear.weight)
        self.sparsity = sparsity

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.transpose(1, 2)).transpose(1, 2)

    def coefficients(self) -> torch.Tensor:
        """[H, p]: column i multiplies the value i + 1 steps back (AR notation w_1..w_p)."""
        return self.linear.weight.flip(-1)

    def penalty(self) -> torch.Tensor:
        """``sparsity`` * R(w), the regulariser of the module docstring."""
        w = self.linear.weight.abs()
        return self.sparsity * (2 / (1 + torch.exp(-3 * (w + 1e-12) ** (1 / 3))) - 1).mean()
