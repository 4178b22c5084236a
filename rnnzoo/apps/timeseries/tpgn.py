"""TPGN, Temporal PGN (Jia et al. 2024, PGN: The RNN's New Successor is Effective for Long-Range Time Series
Forecasting; Water2sea/TPGN): the window of L steps is folded into a 2-D grid [L/P periods, P
phases] and read by two branches, channel-independently:

- long-term: each value embedded, then the ``pgn`` mixer (its HIE layer) runs across periods at every
  phase, so a phase sees its own values in all earlier periods -> [P, d] at the last period;
- short-term: each period's P values embedded together (a patch), then ``pgn`` across periods -> [d] at
  the last period;
- the two are projected to the horizon and summed.

P defaults to the series' seasonal period; the window's front is padded with its first value to a
multiple of P.
"""

from __future__ import annotations

import torch
from torch import nn

from rnnzoo import mixers
from rnnzoo.apps.timeseries.encoder import patches


class TPGN(nn.Module):
    """x [B, L, C] -> forecast [B, H, C] (or logits [B, K] with ``classify``: the branches' mean, pooled)."""

    def __init__(self, period: int, out: int, *, d_model: int, classify: bool, window: int = 32):
        super().__init__()
        self.period, self.out, self.classify = period, out, classify
        self.value = nn.Linear(1, d_model)
        self.patch = nn.Linear(period, d_model)
        self.long = mixers.build("pgn", d_model, window=window)
        self.short = mixers.build("pgn", d_model, window=window)
        self.norm = nn.RMSNorm(d_model)
        self.long_head = nn.Linear(d_model * (1 if classify else period), out)
        self.short_head = nn.Linear(d_model, out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, L, C = x.shape
        grid = patches(x.transpose(1, 2).reshape(B * C, L, 1), self.period)[..., 0]  # [B*C, n, P]
        n = grid.shape[1]
        long_in = self.value(grid.transpose(1, 2).reshape(-1, n, 1))  # [B*C*P, n, d]: across periods per phase
        long, _ = self.long(long_in)
        short, _ = self.short(self.patch(grid))  # [B*C, n, d]
        long = self.norm(long + long_in).view(B * C, self.period, n, -1)
        short = self.norm(short + self.patch(grid))
        if self.classify:
            y = self.long_head(long.mean((1, 2))) + self.short_head(short.mean(1))
            return y.view(B, C, -1).mean(1)
        y = self.long_head(long[:, :, -1].flatten(1)) + self.short_head(short[:, -1])
        return y.view(B, C, self.out).transpose(1, 2)
