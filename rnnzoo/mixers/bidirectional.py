"""Bidirectional wrapper (Schuster & Paliwal 1997, Bidirectional Recurrent Neural Networks).

Runs one causal mixer left-to-right and a second, independent one right-to-left over the reversed
sequence, concatenates the two outputs and projects back to d_model. The result sees the whole
sequence (``causal = False``), so it has no ``step``; encoders (BERT4Rec-style, seq2seq) use it.
"""

from __future__ import annotations

import torch
from torch import nn

from rnnzoo.mixers.base import MixerConfig, NonCausalMixer, reverse_time
from rnnzoo.mixers.registry import build, get


class Bidirectional(NonCausalMixer):
    """Bidirectional(name, d_model, **overrides): forward and backward copies of a causal mixer.

    x: [B, T, d_model] -> y: [B, T, d_model]; the returned state is (): a non-causal mixer cannot continue a sequence.
    """

    def __init__(self, name: str, d_model: int, **overrides):
        if not get(name).causal:
            raise ValueError(f"Bidirectional wraps causal mixers; {name!r} is already non-causal")
        super().__init__(MixerConfig(d_model=d_model))
        self.fwd = build(name, d_model, **overrides)
        self.bwd = build(name, d_model, **overrides)
        self.merge = nn.Linear(2 * d_model, d_model)
        self.paper = f"Schuster & Paliwal 1997 (BRNN) around {name}"

    def _forward(self, x, state):
        return self.both_directions(x, reverse_time), ()

    def both_directions(self, x: torch.Tensor, reverse) -> torch.Tensor:
        """x: [B, T, d_model] -> [B, T, d_model]. ``reverse`` puts a sequence in the order the backward copy
        reads it and, being its own inverse, puts that copy's outputs back in input order."""
        y_f, _ = self.fwd(x)
        y_b, _ = self.bwd(reverse(x))
        return self.merge(torch.cat((y_f, reverse(y_b)), -1))
