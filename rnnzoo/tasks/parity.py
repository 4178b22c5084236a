"""Parity with length generalisation (Grazzi et al. 2025, "Unlocking State-Tracking in Linear RNNs
Through Negative Eigenvalues"; setup of Deletang et al. 2023): inputs are random bits, the target at
every position is the parity (xor) of the prefix so far. Trained at ``seq_len`` (default 40) and
tested up to 256. Labels are on every position (all-prefix labels, as Grazzi et al.), so one training
sequence of length 40 teaches every length 1..40 at once; no length curriculum is needed. The test
metric is the accuracy at the final position of a length-L sequence (the parity of all L bits).

Example (T=6): inputs 1 0 1 1 0 1 -> targets 1 1 0 1 1 0 (no ignored positions).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rnnzoo.tasks.base import StateTrackingTask, check_n, generator


@dataclass(frozen=True)
class Parity(StateTrackingTask):
    paper = "Grazzi et al. 2025, Unlocking State-Tracking in Linear RNNs Through Negative Eigenvalues"
    seq_len: int = 40
    test_lens: tuple[int, ...] = (40, 64, 128, 256)

    def __post_init__(self) -> None:
        if self.seq_len < 1:
            raise ValueError(f"seq_len must be >= 1, got {self.seq_len}")

    @property
    def vocab_size(self) -> int:
        return 2

    def make(self, split: str, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        check_n(n)
        bits = torch.randint(2, (n, self.seq_len), generator=generator(split, seed))
        return bits, bits.cumsum(1) % 2
