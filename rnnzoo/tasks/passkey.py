"""Passkey retrieval (Mohtashami & Jaggi 2023, "Landmark Attention"; used as a state-capacity probe in
Chen et al. 2024, "Stuffed Mamba"): a ``key_len``-digit passkey, introduced by a KEY marker, is hidden
at a random position in repetitive filler text; the sequence ends with a QUERY marker, after which the
model must produce the digits (teacher-forced: the target at QUERY is digit 1, at digit i it is digit
i + 1). Trained at ``seq_len`` and tested at 2x and 4x that length.

Tokens: digits 0-9, KEY = 10, QUERY = 11, filler = 12 .. 12 + filler_len - 1 repeated cyclically (the
"The grass is green. The sky is blue." sentence of the original). Example (key 4 7, filler_len 3,
T=13; ``-`` = -100 ignored):

    inputs : 12 13 14 12 10  4  7 13 14 12 13 11  4
    targets:  -  -  -  -  -  -  -  -  -  -  -  4  7

``jrt=True`` (Just read twice) repeats everything before QUERY once more, so sequences grow by T - key_len.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rnnzoo.tasks.base import IGNORE, Task, check_n, generator

KEY, QUERY, FILLER = 10, 11, 12


@dataclass(frozen=True)
class Passkey(Task):
    paper = "Mohtashami & Jaggi 2023, Landmark Attention; Chen et al. 2024, Stuffed Mamba"
    kind = "recall"
    seq_len: int = 64
    key_len: int = 2
    filler_len: int = 8
    test_lens: tuple[int, ...] = (64, 128, 256)
    jrt: bool = False

    def __post_init__(self) -> None:
        if self.key_len < 1 or self.filler_len < 1:
            raise ValueError(f"key_len and filler_len must be >= 1, got {self.key_len}, {self.filler_len}")
        if self.seq_len < 2 * self.key_len + 3:
            raise ValueError(f"seq_len={self.seq_len} too short for key_len={self.key_len}")

    @property
    def vocab_size(self) -> int:
        return FILLER + self.filler_len

    def test_lengths(self) -> tuple[int, ...]:
        return self.test_lens

    def make(self, split: str, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        check_n(n)
        g = generator(split, seed)
        k = self.key_len
        ctx_len = self.seq_len - k  # filler holding KEY + digits; then QUERY and k - 1 digits
        digits = torch.randint(10, (n, k), generator=g)
        start = torch.randint(ctx_len - k, (n,), generator=g)  # KEY at start, digits after it
        inputs = (torch.arange(self.seq_len) % self.filler_len + FILLER).repeat(n, 1)
        rows = torch.arange(n)[:, None]
        inputs[rows[:, 0], start] = KEY
        inputs[rows, start[:, None] + 1 + torch.arange(k)] = digits
        inputs[:, ctx_len] = QUERY
        inputs[:, ctx_len + 1:] = digits[:, :-1]
        targets = torch.full_like(inputs, IGNORE)
        targets[:, ctx_len:] = digits
        if self.jrt:
            inputs = torch.cat([inputs[:, :ctx_len], inputs], 1)
            targets = torch.cat([torch.full((n, ctx_len), IGNORE, dtype=torch.long), targets], 1)
        return inputs, targets
