"""Pre-norm residual block: x + mixer(norm(x)), then x + MLP(norm(x)) (GPT-2 / Llama layout, RMSNorm)."""

from __future__ import annotations

import torch
from torch import nn

from rnnzoo.mixers import Mixer, State


class MLP(nn.Module):
    """Position-wise feed-forward: Linear(d, r*d) -> GELU -> Linear(r*d, d). x: [..., d] -> [..., d]."""

    def __init__(self, d_model: int, ratio: float):
        super().__init__()
        hidden = max(1, int(round(ratio * d_model)))
        self.up = nn.Linear(d_model, hidden)
        self.down = nn.Linear(hidden, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(nn.functional.gelu(self.up(x)))


class Block(nn.Module):
    """norm -> mixer -> residual -> norm -> MLP -> residual. ``mlp_ratio=0`` drops the MLP half."""

    def __init__(self, mixer: Mixer, mlp_ratio: float = 4.0):
        super().__init__()
        d = mixer.d_model
        self.mixer = mixer
        self.norm1 = nn.RMSNorm(d)
        self.norm2 = nn.RMSNorm(d) if mlp_ratio > 0 else None
        self.mlp = MLP(d, mlp_ratio) if mlp_ratio > 0 else None

    def forward(self, x: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """x: [B, T, d_model] -> (y [B, T, d_model], mixer state)."""
        h, state = self.mixer(self.norm1(x), state)
        return self._mlp(x + h), state

    def step(self, x_t: torch.Tensor, state: State | None) -> tuple[torch.Tensor, State]:
        """x_t: [B, d_model] -> (y_t [B, d_model], mixer state)."""
        h, state = self.mixer.step(self.norm1(x_t), state)
        return self._mlp(x_t + h), state

    def _mlp(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.mlp is None else x + self.mlp(self.norm2(x))
