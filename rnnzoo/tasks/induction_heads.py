"""Induction heads (Olsson et al. 2022; the synthetic version of Gu & Dao 2023, "Mamba", Sec. 4.1.2):
random tokens contain a special token S once, followed by an answer token a; the sequence ends with S
again and the model must predict a. Trained at ``seq_len`` and tested at longer lengths.

Tokens: S = V - 1, all others uniform in [0, V - 2]. Example (V=6, T=10; ``-`` = -100 ignored):

    inputs : 2 0 5 3 1 4 0 2 1 5
    targets: - - - - - - - - - 3
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rnnzoo.tasks.base import IGNORE, Task, check_n, generator


@dataclass(frozen=True)
class InductionHeads(Task):
    paper = "Olsson et al. 2022, In-context learning and induction heads; Gu & Dao 2023, Mamba (Sec. 4.1.2)"
    kind = "recall"
    seq_len: int = 64
    vocab: int = 16
    test_lens: tuple[int, ...] = (64, 128, 256)

    def __post_init__(self) -> None:
        if self.vocab < 3:
            raise ValueError(f"vocab must be >= 3, got {self.vocab}")
        if self.seq_len < 4:
            raise ValueError(f"seq_len must be >= 4, got {self.seq_len}")

    @property
    def vocab_size(self) -> int:
        return self.vocab

    def test_lengths(self) -> tuple[int, ...]:
        return self.test_lens

    def make(self, split: str, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        check_n(n)
        g = generator(split, seed)
        special, t = self.vocab - 1, self.seq_len
        inputs = torch.randint(special, (n, t), generator=g)
        rows, pos = torch.arange(n), torch.randint(t - 2, (n,), generator=g)  # S at pos, answer at pos + 1
        answer = inputs[rows, pos + 1]
        inputs[rows, pos] = special
        inputs[:, -1] = special
        targets = torch.full_like(inputs, IGNORE)
        targets[:, -1] = answer
        return inputs, targets
