"""Character tagger: embedding -> n_layers blocks of a registry mixer made bidirectional (``Bidirectional``)
-> optional global-context gate -> linear tag classifier.

Global context (Xu et al. 2023, A Global Context Mechanism for Sequence Labeling): the sequence summary g is
mixed into every position through a gate computed from both, y_t = a_t * h_t + (1 - a_t) * W g with
a_t = sigmoid(U [h_t; g]). The paper's g is the BiLSTM's two final states; here g = [h_last; h_first], the
encoder outputs at the two ends of the window, where the forward copy has read the whole window (last) and
the backward copy has (first), so the same gate serves any mixer.

```python
model = Tagger(TaggerConfig(vocab_size=100, num_tags=7, mixer="gru", global_context=True))
logits = model(chars, lengths)      # chars [B, T] int64, lengths [B] or None -> [B, T, num_tags]
```
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from rnnzoo import mixers
from rnnzoo.config_args import option
from rnnzoo.mixers import Bidirectional
from rnnzoo.models.block import Block


@dataclass
class TaggerConfig:
    vocab_size: int | None = option(None, "character ids; set from the data", derived=True)
    num_tags: int | None = option(None, "tag ids; set from the data", derived=True)
    mixer: str = option("gru", "causal registry mixer run in both directions, with options as in gla:num_heads=2",
                        spec_of="mixer_options")
    mixer_options: dict = option(factory=dict, help="config overrides for the mixer")
    d_model: int = option(64, "model width")
    n_layers: int = option(1, "bidirectional blocks")
    global_context: bool = option(True, "gate the window summary into every position")

    def __post_init__(self) -> None:
        if self.n_layers < 1 or self.d_model < 1:
            raise ValueError(f"n_layers and d_model must be >= 1, got {self.n_layers}, {self.d_model}")
        if not mixers.get(self.mixer).causal:
            raise ValueError(f"the tagger runs a causal mixer in both directions; {self.mixer!r} is not causal")
        mixers.make_config(self.mixer, self.d_model, **self.mixer_options)


class GlobalContext(nn.Module):
    """h [B, T, d], lengths [B] -> [B, T, d]: a_t * h_t + (1 - a_t) * W g, a_t = sigmoid(U [h_t; g])."""

    def __init__(self, d: int):
        super().__init__()
        self.gate = nn.Linear(3 * d, d)
        self.context = nn.Linear(2 * d, d)

    def forward(self, h: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        last = h[torch.arange(len(h)), lengths - 1]
        g = torch.cat((last, h[:, 0]), -1)[:, None].expand(-1, h.shape[1], -1)  # [B, T, 2d]
        a = torch.sigmoid(self.gate(torch.cat((h, g), -1)))
        return a * h + (1 - a) * self.context(g)


class Tagger(nn.Module):
    def __init__(self, config: TaggerConfig):
        super().__init__()
        if config.vocab_size is None or config.num_tags is None:
            raise ValueError("TaggerConfig.vocab_size and num_tags must be set from the data")
        self.config, d = config, config.d_model
        self.embed = nn.Embedding(config.vocab_size, d)
        self.blocks = nn.ModuleList(Block(Bidirectional(config.mixer, d, **config.mixer_options))
                                    for _ in range(config.n_layers))
        self.norm = nn.RMSNorm(d)
        self.context = GlobalContext(d) if config.global_context else None
        self.classify = nn.Linear(d, config.num_tags)

    def forward(self, chars: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """chars [B, T] (right-padded past ``lengths`` [B]; None: all T real) -> tag logits [B, T, num_tags]."""
        if lengths is None:
            lengths = torch.full((len(chars),), chars.shape[1], device=chars.device)
        x = self.embed(chars)
        for block in self.blocks:
            x, _ = block(x, lengths=lengths)
        h = self.norm(x)
        if self.context is not None:
            h = self.context(h, lengths)
        return self.classify(h)
