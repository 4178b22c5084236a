"""Bidirectional wrapper (Schuster & Paliwal 1997, Bidirectional Recurrent Neural Networks).

Runs one causal mixer left-to-right and a second, independent one right-to-left over the reversed
sequence, concatenates the two outputs and projects back to d_model. The result sees the whole
sequence (``causal = False``), so it has no ``step``; encoders (BERT4Rec-style, seq2seq) use it.
"""

from __future__ import annotations

import torch
from torch import nn

from rnnzoo.mixers.base import Mixer, MixerConfig, State
from rnnzoo.mixers.registry import build, get


class Bidirectional(Mixer):
    """Bidirectional(name, d_model, **overrides): forward and backward copies of a causal mixer.

    x: [B, T, d_model] -> y: [B, T, d_model]. The returned state is (forward-direction final state...)
    for inspection only; a non-causal mixer cannot continue a sequence.
    """

    causal = False

    def __init__(self, name: str, d_model: int, **overrides):
        if not get(name).causal:
            raise ValueError(f"Bidirectional wraps causal mixers; {name!r} is already non-causal")
        super().__init__(MixerConfig(d_model=d_model))
        self.fwd = build(name, d_model, **overrides)
        self.bwd = build(name, d_model, **overrides)
        self.merge = nn.Linear(2 * d_model, d_model)
        self.paper = f"Schuster & Paliwal 1997 (BRNN) around {name}"

    def init_state(self, batch_size, device=None, dtype=None) -> State:
        return ()

    @property
    def state_size(self) -> int | None:
        return None

    def forward(self, x: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        if state:
            raise ValueError("Bidirectional is not causal: it cannot continue from a state")
        return super().forward(x, None)

    def _forward(self, x, state):
        y_f, _ = self.fwd(x)
        y_b, _ = self.bwd(x.flip(1))
        return self.merge(torch.cat((y_f, y_b.flip(1)), -1)), ()
