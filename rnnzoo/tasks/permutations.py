"""State tracking on permutation groups (Merrill et al. 2024, "The Illusion of State in State-Space
Models"; Siems et al. 2025, "DeltaProduct"): inputs are random elements g_1 .. g_T of S3, S4, A5 or S5,
the target at every position is the running product p_t = g_1 g_2 ... g_t (all-prefix labels), where
(a b)(i) = a(b(i)) composes permutations as functions applied right to left. S3, S4 are solvable and
A5, S5 are not (NC1-complete word problems). The test metric is accuracy at the final position.

Elements are tokens 0..|G|-1: the group's permutations of (0..n-1) in lexicographic order.
Example (S3: 0=(0,1,2) identity, 1=(0,2,1), 2=(1,0,2), ...):

    inputs : 1 1 2        targets: 1 0 2      (g1 = 1, g1 g2 = identity, then 2)
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import lru_cache

import torch

from rnnzoo.tasks.base import StateTrackingTask, check_n, generator

GROUPS = ("S3", "S4", "A5", "S5")


def _is_even(p: tuple[int, ...]) -> bool:
    inversions = sum(p[i] > p[j] for i in range(len(p)) for j in range(i + 1, len(p)))
    return inversions % 2 == 0


@lru_cache(maxsize=None)
def elements(group: str) -> tuple[tuple[int, ...], ...]:
    """The group's permutations in lexicographic order; token i is elements(group)[i]."""
    if group not in GROUPS:
        raise ValueError(f"unknown group {group!r}; valid groups: {', '.join(GROUPS)}")
    perms = list(itertools.permutations(range(int(group[1]))))
    return tuple(p for p in perms if group[0] == "S" or _is_even(p))


@lru_cache(maxsize=None)
def cayley_table(group: str) -> torch.Tensor:
    """[|G|, |G|] int64: table[a, b] = token of (a b), (a b)(i) = a(b(i))."""
    elems = elements(group)
    index = {p: i for i, p in enumerate(elems)}
    return torch.tensor([[index[tuple(a[b[i]] for i in range(len(a)))] for b in elems] for a in elems])


@dataclass(frozen=True)
class Permutations(StateTrackingTask):
    paper = "Merrill et al. 2024, The Illusion of State in State-Space Models; Siems et al. 2025, DeltaProduct"
    seq_len: int = 64
    group: str = "S3"
    test_lens: tuple[int, ...] = (64, 128, 256)

    def __post_init__(self) -> None:
        elements(self.group)  # validates the name
        if self.seq_len < 1:
            raise ValueError(f"seq_len must be >= 1, got {self.seq_len}")

    @property
    def vocab_size(self) -> int:
        return len(elements(self.group))

    def make(self, split: str, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        check_n(n)
        table = cayley_table(self.group)
        inputs = torch.randint(len(table), (n, self.seq_len), generator=generator(split, seed))
        targets = torch.empty_like(inputs)
        targets[:, 0] = inputs[:, 0]
        for t in range(1, self.seq_len):
            targets[:, t] = table[targets[:, t - 1], inputs[:, t]]
        return inputs, targets
