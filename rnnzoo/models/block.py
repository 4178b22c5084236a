"""Pre-norm residual block: x + mixer(norm(x)), then x + MLP(norm(x)) (GPT-2 / Llama layout, RMSNorm)."""

from __future__ import annotations

import torch
from torch import nn

from rnnzoo.mixers import Bidirectional, Mixer, State
from rnnzoo.mixers.norms import RMSNorm


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
    """norm -> mixer -> dropout -> residual -> norm -> MLP -> dropout -> residual. ``mlp_ratio=0`` drops the
    MLP half; ``dropout`` (on both branches before the residual add, as in RecBole's SASRec) defaults to 0."""

    def __init__(self, mixer: Mixer, mlp_ratio: float = 4.0, dropout: float = 0.0):
        super().__init__()
        d = mixer.d_model
        self.mixer = mixer
        self.norm1 = RMSNorm(d)
        self.norm2 = RMSNorm(d) if mlp_ratio > 0 else None
        self.mlp = MLP(d, mlp_ratio) if mlp_ratio > 0 else None
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, state: State | None = None, lengths: torch.Tensor | None = None,
                cu_seqlens: torch.Tensor | None = None) -> tuple[torch.Tensor, State]:
        """x: [B, T, d_model] -> (y [B, T, d_model], mixer state).

        ``lengths`` [B]: x is right-padded, row b real for t < lengths[b]. A causal mixer needs nothing (padding
        comes after every real step); a ``Bidirectional`` mixer then reverses each row within its length, so
        padding never enters either direction's state. Outputs at padded positions are junk.
        ``cu_seqlens`` [N+1]: x [1, T, d_model] packs N sequences (``Mixer.forward``); the rest is per token.
        """
        h = self.norm1(x)
        if lengths is not None and isinstance(self.mixer, Bidirectional):
            h, state = self.mixer.both_directions(h, lambda t: reverse_padded(t, lengths)), ()
        elif cu_seqlens is not None:
            h, state = self.mixer(h, state, cu_seqlens=cu_seqlens)
        else:
            h, state = self.mixer(h, state)
        return self._mlp(x + self.dropout(h)), state

    def step(self, x_t: torch.Tensor, state: State | None) -> tuple[torch.Tensor, State]:
        """x_t: [B, d_model] -> (y_t [B, d_model], mixer state)."""
        h, state = self.mixer.step(self.norm1(x_t), state)
        return self._mlp(x_t + self.dropout(h)), state

    def _mlp(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.mlp is None else x + self.dropout(self.mlp(self.norm2(x)))


def reverse_padded(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each row's first lengths[b] steps, leave the padding after them in place. x: [B, T, ...]."""
    t = torch.arange(x.shape[1], device=x.device)[None]
    idx = torch.where(t < lengths[:, None], lengths[:, None] - 1 - t, t)
    return x.gather(1, idx.view(*idx.shape, *[1] * (x.dim() - 2)).expand_as(x))
