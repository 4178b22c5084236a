"""Selective copying (Gu & Dao 2023, "Mamba", Sec. 4.1.1 / Fig. 2): ``num_tokens`` data tokens sit at
random positions among noise tokens; after them come ``num_tokens`` copy markers, at which the model
must output the data tokens in their order of appearance. Solving it needs content-aware selection
(an LTI model cannot skip the noise by position alone).

Tokens: noise = 0, data in [1, V - 2], marker = V - 1. Example (V=6, 3 data tokens, T=10;
targets ``-`` = -100 ignored):

    inputs : 0 3 0 0 1 4 0 5 5 5
    targets: - - - - - - - 3 1 4
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rnnzoo.tasks.base import IGNORE, Task, check_n, generator


@dataclass(frozen=True)
class SelectiveCopy(Task):
    paper = "Gu & Dao 2023, Mamba: Linear-Time Sequence Modeling with Selective State Spaces (Sec. 4.1.1)"
    kind = "recall"
    seq_len: int = 64
    vocab: int = 16
    num_tokens: int = 8

    def __post_init__(self) -> None:
        if self.vocab < 3:
            raise ValueError(f"vocab must be >= 3 (noise, marker, data), got {self.vocab}")
        if not 1 <= self.num_tokens <= self.seq_len // 2:
            raise ValueError(f"need 1 <= num_tokens <= seq_len/2, got {self.num_tokens} for seq_len={self.seq_len}")

    @property
    def vocab_size(self) -> int:
        return self.vocab

    def make(self, split: str, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        check_n(n)
        g = generator(split, seed)
        m, body = self.num_tokens, self.seq_len - self.num_tokens
        data = torch.randint(1, self.vocab - 1, (n, m), generator=g)
        pos = torch.rand(n, body, generator=g).argsort(1)[:, :m].sort(1).values  # order of appearance
        inputs = torch.zeros(n, self.seq_len, dtype=torch.long)
        inputs.scatter_(1, pos, data)
        inputs[:, body:] = self.vocab - 1
        targets = torch.full_like(inputs, IGNORE)
        targets[:, body:] = data
        return inputs, targets
