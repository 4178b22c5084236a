"""Any registry mixer as a time-series encoder: tokens (one step or one patch each), ``Block``s, a linear head.

- Channel-independent (PatchTST's choice): each of the C channels is a separate univariate sequence
  through the same weights; the forecast head reads the last token, the classifier averages tokens and
  channels. Channel-mixing: one sequence whose tokens carry all C channels.
- Patching (Nie et al. 2023, PatchTST): ``patch_len`` P > 1 makes each token a non-overlapping patch of P
  steps (the window's front padded with its first value to a multiple of P), cutting the sequence P-fold.
"""

from __future__ import annotations

import torch
from torch import nn

from rnnzoo import mixers
from rnnzoo.models.block import Block


def patches(x: torch.Tensor, patch_len: int) -> torch.Tensor:
    """x [B, L, C] -> [B, ceil(L / P), P, C], the front padded with the first value (the last patch ends at
    the window's last step, so the newest token is always complete)."""
    pad = -x.shape[1] % patch_len
    if pad:
        x = torch.cat([x[:, :1].expand(-1, pad, -1), x], dim=1)
    return x.unflatten(1, (-1, patch_len))


class MixerStack(nn.Module):
    """Tokens [B, N, P * C_in] -> Linear -> n_layers ``Block``s of a registry mixer -> RMSNorm -> [B, N, d]."""

    def __init__(self, name: str, options: dict, d_in: int, d_model: int, n_layers: int, dropout: float):
        super().__init__()
        self.embed = nn.Linear(d_in, d_model)
        self.layers = nn.ModuleList(Block(mixers.build(name, d_model, **options), 2.0, dropout)
                                    for _ in range(n_layers))
        self.norm = nn.RMSNorm(d_model)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        h = self.embed(tokens)
        for layer in self.layers:
            h, _ = layer(h)
        return self.norm(h)


class MixerModel(nn.Module):
    """x [B, L, C] -> forecast [B, H, C] (``out`` = horizon) or logits [B, K] (``out`` = K, ``classify``)."""

    def __init__(self, name: str, options: dict, channels: int, out: int, *, d_model: int, n_layers: int,
                 patch_len: int, independent: bool, classify: bool, dropout: float):
        super().__init__()
        self.patch_len, self.independent, self.classify, self.out = patch_len, independent, classify, out
        width = patch_len * (1 if independent else channels)
        self.stack = MixerStack(name, options, width, d_model, n_layers, dropout)
        self.head = nn.Linear(d_model, out if independent or classify else out * channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, L, C = x.shape
        seq = x.transpose(1, 2).reshape(B * C, L, 1) if self.independent else x
        h = self.stack(patches(seq, self.patch_len).flatten(2))  # [B or B*C, N, d]
        if self.classify:
            pooled = h.mean(1)
            return self.head(pooled.view(B, C, -1).mean(1) if self.independent else pooled)
        y = self.head(h[:, -1])
        return y.view(B, C, self.out).transpose(1, 2) if self.independent else y.view(B, self.out, C)
