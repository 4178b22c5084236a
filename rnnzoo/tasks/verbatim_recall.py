"""Verbatim list recall (Armeni, Honey & Linzen 2022, "Characterizing Verbatim Short-Term Memory in Neural
Language Models"): a list of nouns occurs twice with intervening text between; retrieval is how much better
the model predicts the second list from the first. Here: a list of ``list_len`` distinct items, intervening
filler (``test_lens`` varies its length), a RECALL cue, then the list again, teacher-forced: at the cue the
model predicts the first item, at each repeated item the next one. Scored per position (``metric="position"``,
chance 1 / num_items) or per list (``metric="list"``: every position of the row right, chance about
num_items ** -list_len).

Tokens: RECALL = 0, items 1 .. num_items, filler after them. Example (num_items 6, list_len 3, filler 7-8;
``.`` = filler):

    inputs : 4 2 6 . . 0 4 2
    targets: - - - - - 4 2 6
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rnnzoo.tasks.base import IGNORE, Task, check_n, generator, masked_accuracy

METRICS = ("position", "list")


def exact_list_accuracy(logits: torch.Tensor, targets: torch.Tensor) -> float:
    """Fraction of rows whose every labelled position is predicted right. logits [n, T, V], targets [n, T]."""
    mask = targets != IGNORE
    wrong = (logits.argmax(-1) != targets) & mask
    return float((~wrong.any(1)).float().mean())


@dataclass(frozen=True)
class VerbatimRecall(Task):
    paper = "Armeni, Honey & Linzen 2022, Characterizing Verbatim Short-Term Memory in Neural Language Models"
    kind = "recall"
    seq_len: int = 32
    list_len: int = 8
    num_items: int = 32
    filler_vocab: int = 8
    metric: str = "position"
    test_lens: tuple[int, ...] = (32, 64, 128)

    def __post_init__(self) -> None:
        if not 1 <= self.list_len <= self.num_items or self.filler_vocab < 1:
            raise ValueError(f"need 1 <= list_len <= num_items and filler_vocab >= 1, got list_len={self.list_len}, "
                             f"num_items={self.num_items}, filler_vocab={self.filler_vocab}")
        if self.metric not in METRICS:
            raise ValueError(f"metric must be one of {METRICS}, got {self.metric!r}")
        if min((self.seq_len, *self.test_lens)) < 2 * self.list_len:
            raise ValueError(f"seq_len and test_lens must be >= 2 * list_len = {2 * self.list_len} (the list, the "
                             f"cue and its repeat), got {min((self.seq_len, *self.test_lens))}")

    @property
    def vocab_size(self) -> int:
        return 1 + self.num_items + self.filler_vocab

    def test_lengths(self) -> tuple[int, ...]:
        return self.test_lens

    def chance(self) -> float:
        per_position = 1.0 / self.num_items
        return per_position if self.metric == "position" else per_position ** self.list_len

    def score(self, logits: torch.Tensor, targets: torch.Tensor) -> float:
        return masked_accuracy(logits, targets) if self.metric == "position" else exact_list_accuracy(logits, targets)

    def make(self, split: str, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        check_n(n)
        g = generator(split, seed)
        items = torch.rand(n, self.num_items, generator=g).argsort(1)[:, :self.list_len] + 1  # distinct items
        gap = self.seq_len - 2 * self.list_len
        filler = 1 + self.num_items + torch.randint(self.filler_vocab, (n, gap), generator=g)
        cue = torch.zeros(n, 1, dtype=torch.long)
        inputs = torch.cat([items, filler, cue, items[:, :-1]], 1)
        targets = torch.full_like(inputs, IGNORE)
        targets[:, -self.list_len:] = items
        return inputs, targets
