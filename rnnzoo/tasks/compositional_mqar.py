"""Compositional MQAR (Zoology, HazyResearch/zoology ``zoology/data/compositional_ar.py``): keys are pairs of
tokens (K1, K2) laid out as a grid, so that neither token alone determines the value; the model must bind
both to recall.

The vocabulary is split in thirds: K1 from [1, V/3), K2 from [V/3, 2V/3), values from [2V/3, V). With
``num_kv_pairs`` = s^2, s distinct K1s and s distinct K2s form all s^2 pairs, in a random order, each with a
distinct value: the context is 3k tokens ``K1 K2 V ...``. Every pair is then queried once, ``K1 K2`` at
position 3k + 3g (gaps g drawn without replacement from Zoology's power law over (T - 3k) // 3 slots); the
target at the K2 of a query is the pair's value. Other positions after the context are random tokens.

Example (V=15: K1 in 1..4, K2 in 5..9, values 10..14; k=4, T=24; ``.`` = filler, ``-`` = ignored):

    inputs : 1 5 10 1 6 11 2 5 12 2 6 13 2 5 . 1 6 . . . . 1 5 .
    targets: - - -  - - -  - - -  - - -  - 12 - - 11 - - - - - 10 -
    ((2,5) -> 12, (1,6) -> 11, (1,5) -> 10: K1 = 1 alone maps to 10 or 11)

Zoology's example lists the pairs in one order and queries three; the generator queries all four.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from rnnzoo.tasks.base import IGNORE, Task, check_n, generator
from rnnzoo.tasks.mqar import check_power_a, power_law_probs, query_gaps


@dataclass(frozen=True)
class CompositionalMQAR(Task):
    paper = "Zoology (HazyResearch/zoology, compositional_ar): MQAR with two-token keys on a grid"
    kind = "recall"
    seq_len: int = 64
    vocab: int = 8192
    num_kv_pairs: int = 4   # a perfect square s^2: s first and s second key tokens
    power_a: float = 0.01

    def __post_init__(self) -> None:
        side = math.isqrt(self.num_kv_pairs)
        if self.num_kv_pairs < 1 or side * side != self.num_kv_pairs:
            raise ValueError(f"num_kv_pairs must be a perfect square (1, 4, 9, ...), got {self.num_kv_pairs}")
        if 6 * self.num_kv_pairs > self.seq_len:
            raise ValueError(f"need 6 * num_kv_pairs <= seq_len, got {self.num_kv_pairs} pairs, seq_len={self.seq_len}")
        third = self.vocab // 3
        if third - 1 < side or self.vocab - 2 * third < self.num_kv_pairs:
            raise ValueError(f"vocab={self.vocab} too small for {self.num_kv_pairs} pairs")
        check_power_a(self.power_a)

    @property
    def vocab_size(self) -> int:
        return self.vocab

    def make(self, split: str, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        check_n(n)
        g = generator(split, seed)
        k, side, third = self.num_kv_pairs, math.isqrt(self.num_kv_pairs), self.vocab // 3
        first = torch.rand(n, third - 1, generator=g).argsort(1)[:, :side] + 1
        second = torch.rand(n, third, generator=g).argsort(1)[:, :side] + third
        order = torch.rand(n, k, generator=g).argsort(1)                      # grid cell of each pair
        k1, k2 = first.gather(1, order // side), second.gather(1, order % side)
        values = torch.rand(n, self.vocab - 2 * third, generator=g).argsort(1)[:, :k] + 2 * third
        ctx = 3 * k
        inputs = torch.randint(self.vocab, (n, self.seq_len), generator=g)
        inputs[:, 0:ctx:3], inputs[:, 1:ctx:3], inputs[:, 2:ctx:3] = k1, k2, values
        gaps = query_gaps(power_law_probs((self.seq_len - ctx) // 3, self.power_a), n, k, g)
        rows, pos = torch.arange(n)[:, None], ctx + 3 * gaps
        targets = torch.full((n, self.seq_len), IGNORE, dtype=torch.long)
        inputs[rows, pos], inputs[rows, pos + 1], targets[rows, pos + 1] = k1, k2, values
        return inputs, targets
