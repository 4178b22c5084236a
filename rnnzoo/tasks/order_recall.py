"""Sequence order recall (Pink et al. 2024, "Assessing Episodic Memory in LLMs with Sequence Order Recall
Tasks", SORT): after reading a sequence, the model is shown two of its segments and must say which came first.
Here the segments are single tokens: a list of ``list_len`` distinct items, intervening filler (the text
between study and test, whose length ``test_lens`` varies), then QUERY and two items of the list in random
order; at the second probe the answer is the probe that appeared earlier. Chance is 0.5 (one of the two probes).

Tokens: QUERY = 0, items 1 .. num_items, filler after them. Example (num_items 6, list_len 4, filler 7-8;
``.`` = filler): 6 and 5 are probed, and 5 came first.

    inputs : 3 5 1 6 . . 0 6 5
    targets: - - - - - - - - 5
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rnnzoo.tasks.base import IGNORE, Task, check_n, generator


@dataclass(frozen=True)
class OrderRecall(Task):
    paper = "Pink et al. 2024, Sequence Order Recall Tasks (SORT)"
    kind = "recall"
    seq_len: int = 32
    list_len: int = 8
    num_items: int = 32
    filler_vocab: int = 8
    test_lens: tuple[int, ...] = (32, 64, 128)

    def __post_init__(self) -> None:
        if not 2 <= self.list_len <= self.num_items or self.filler_vocab < 1:
            raise ValueError(f"need 2 <= list_len <= num_items and filler_vocab >= 1, got list_len={self.list_len}, "
                             f"num_items={self.num_items}, filler_vocab={self.filler_vocab}")
        if min((self.seq_len, *self.test_lens)) < self.list_len + 3:
            raise ValueError(f"seq_len and test_lens must be >= list_len + 3 = {self.list_len + 3} (list, query, "
                             f"two probes), got {min((self.seq_len, *self.test_lens))}")

    @property
    def vocab_size(self) -> int:
        return 1 + self.num_items + self.filler_vocab

    def test_lengths(self) -> tuple[int, ...]:
        return self.test_lens

    def chance(self) -> float:
        return 0.5

    def make(self, split: str, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        check_n(n)
        g = generator(split, seed)
        items = torch.rand(n, self.num_items, generator=g).argsort(1)[:, :self.list_len] + 1  # distinct items
        probes = torch.rand(n, self.list_len, generator=g).argsort(1)[:, :2]  # two distinct list positions
        gap = self.seq_len - self.list_len - 3
        filler = 1 + self.num_items + torch.randint(self.filler_vocab, (n, gap), generator=g)
        shown = items.gather(1, probes)
        query = torch.zeros(n, 1, dtype=torch.long)
        inputs = torch.cat([items, filler, query, shown], 1)
        targets = torch.full_like(inputs, IGNORE)
        targets[:, -1] = items.gather(1, probes.min(1, keepdim=True).values).squeeze(1)
        return inputs, targets
