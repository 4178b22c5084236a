"""Modular arithmetic without brackets (Deletang et al. 2023, "Neural Networks and the Chomsky
Hierarchy"; used with length generalisation by Grazzi et al. 2025): a sum ``a0 + a1 - a2 + ...`` of
numbers in [0, m) with + and - operators, evaluated left to right mod m. Numbers sit at even positions
and operators at odd ones; the target at every number position is the value of the expression so far
(all-prefix labels), operator positions are ignored. Trained at ``seq_len`` and tested up to 256; the
test metric is the accuracy at the last number position.

Tokens: numbers 0..m-1, ``+`` = m, ``-`` = m + 1. Example (m=5, T=7; ``-`` in targets = ignored):

    expression: 3 + 4 - 1 + 2        inputs : 3 5 4 6 1 5 2
                                     targets: 3 - 2 - 1 - 3
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rnnzoo.tasks.base import IGNORE, StateTrackingTask, check_n, generator


@dataclass(frozen=True)
class ModularArithmetic(StateTrackingTask):
    paper = "Deletang et al. 2023, Neural Networks and the Chomsky Hierarchy; Grazzi et al. 2025"
    seq_len: int = 41
    modulus: int = 5
    test_lens: tuple[int, ...] = (41, 65, 129, 257)

    def __post_init__(self) -> None:
        if self.modulus < 2:
            raise ValueError(f"modulus must be >= 2, got {self.modulus}")
        if self.seq_len < 1 or self.seq_len % 2 == 0:
            raise ValueError(f"seq_len must be odd (the expression ends on a number), got {self.seq_len}")

    @property
    def vocab_size(self) -> int:
        return self.modulus + 2

    def make(self, split: str, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        check_n(n)
        g, m = generator(split, seed), self.modulus
        n_num = (self.seq_len + 1) // 2
        nums = torch.randint(m, (n, n_num), generator=g)
        minus = torch.randint(2, (n, n_num - 1), generator=g).bool()
        signed = torch.cat([nums[:, :1], torch.where(minus, -nums[:, 1:], nums[:, 1:])], 1)
        inputs = torch.empty(n, self.seq_len, dtype=torch.long)
        targets = torch.full_like(inputs, IGNORE)
        inputs[:, 0::2], inputs[:, 1::2] = nums, m + minus.long()
        targets[:, 0::2] = signed.cumsum(1) % m
        return inputs, targets
