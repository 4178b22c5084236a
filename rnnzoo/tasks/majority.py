"""Majority and vocab-majority (Zoology, HazyResearch/zoology ``zoology/data/circuits.py``): read T - 1 tokens,
then an end token, and answer at the end token with the most frequent token seen.

``Majority``: T - 1 random bits, end token 2; the answer is 1 if ones are strictly more than half of the
bits, else 0 (a tie answers 0, as Zoology's ``ratio > 0.5``). Example (T=6; ``-`` = ignored):

    inputs : 1 0 1 1 0 2
    targets: - - - - - 1

``VocabMajority``: T - 1 tokens uniform in [1, V), end token 0; the answer is the most frequent token. When
several tie, the smallest of them is the answer and Zoology breaks the tie in the data: the first
occurrence of the first other token (in order of first appearance) becomes the answer token. Example
(V=5, T=6): the draw 3 1 3 1 2 ties 3 and 1; the answer is 1, and the first 3 becomes 1:

    drawn  : 3 1 3 1 2
    inputs : 1 1 3 1 2 0
    targets: - - - - - 1
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rnnzoo.tasks.base import IGNORE, Task, check_n, generator


def _answer_at_end(body: torch.Tensor, end: int, answer: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """body [n, T-1] -> (inputs [n, T] with the end token appended, targets [n, T] with the answer at the end)."""
    n = body.shape[0]
    inputs = torch.cat([body, torch.full((n, 1), end, dtype=torch.long)], 1)
    targets = torch.full_like(inputs, IGNORE)
    targets[:, -1] = answer
    return inputs, targets


@dataclass(frozen=True)
class Majority(Task):
    paper = "Zoology (HazyResearch/zoology, circuits.majority)"
    kind = "state"
    seq_len: int = 64

    def __post_init__(self) -> None:
        if self.seq_len < 2:
            raise ValueError(f"seq_len must be >= 2, got {self.seq_len}")

    @property
    def vocab_size(self) -> int:
        return 3

    def make(self, split: str, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        check_n(n)
        bits = torch.randint(2, (n, self.seq_len - 1), generator=generator(split, seed))
        return _answer_at_end(bits, 2, (2 * bits.sum(1) > bits.shape[1]).long())


@dataclass(frozen=True)
class VocabMajority(Task):
    paper = "Zoology (HazyResearch/zoology, circuits.vocab_majority)"
    kind = "state"
    seq_len: int = 64
    vocab: int = 8

    def __post_init__(self) -> None:
        if self.seq_len < 3 or self.vocab < 3:
            raise ValueError(f"need seq_len >= 3 and vocab >= 3, got seq_len={self.seq_len}, vocab={self.vocab}")

    @property
    def vocab_size(self) -> int:
        return self.vocab

    def make(self, split: str, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        check_n(n)
        body = torch.randint(1, self.vocab, (n, self.seq_len - 1), generator=generator(split, seed))
        rows = [break_tie(row) for row in body.tolist()]  # row by row: rows are short
        return _answer_at_end(torch.tensor([r for r, _ in rows]), 0, torch.tensor([a for _, a in rows]))


def break_tie(row: list[int]) -> tuple[list[int], int]:
    """Zoology's rule: the answer is the smallest most frequent token; on a tie, the first occurrence of the
    first other token (in order of appearance) becomes the answer, making it the strict majority."""
    counts = {t: row.count(t) for t in dict.fromkeys(row)}
    top = max(counts.values())
    best = min(t for t, c in counts.items() if c == top)
    if sum(c == top for c in counts.values()) > 1:
        other = next(t for t in counts if t != best)
        row = list(row)
        row[row.index(other)] = best
    return row, best
