"""Forgetting MQAR (Zoology, HazyResearch/zoology ``zoology/data/forgetting_mqar.py``): MQAR in which some keys
are re-assigned a new value later in the context; a query must return the key's latest value, so a model
has to overwrite an association, not only store it.

Keys come from [1, V/2), values from [V/2, V). The context is the k original pairs (distinct keys, distinct
values), then ``num_updates`` pairs re-assigning distinct keys among them, each to a value other than its
original one. Every key is then queried once, at position 2(k + u) + 2g with the gaps g drawn without
replacement from Zoology's power law (``mqar.power_law_probs``); the target there is the key's final value.
Every other position after the context is a random token from [0, V).

Example (V=12, k=2, u=1, T=12; ``.`` = random filler, targets ``-`` = -100 ignored): key 2 -> 8 is
re-assigned to 10, so its query answers 10, while key 4 keeps 7:

    inputs : 2 8 4 7 2 10 4 . 2 . . .
    targets: - - - - - -  7 - 10 - - -
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rnnzoo.tasks.base import IGNORE, Task, check_n, generator
from rnnzoo.tasks.mqar import check_power_a, power_law_probs, query_gaps


@dataclass(frozen=True)
class ForgettingMQAR(Task):
    paper = "Zoology (HazyResearch/zoology, forgetting_mqar): MQAR with re-assigned keys"
    kind = "recall"
    seq_len: int = 64
    vocab: int = 8192
    num_kv_pairs: int = 8
    num_updates: int = 4   # keys re-assigned a new value after the original pairs
    power_a: float = 0.01

    def __post_init__(self) -> None:
        k, u = self.num_kv_pairs, self.num_updates
        if self.seq_len % 2:
            raise ValueError(f"seq_len must be even, got {self.seq_len}")
        if not 0 <= u <= k or k < 1:
            raise ValueError(f"need 1 <= num_kv_pairs and 0 <= num_updates <= num_kv_pairs, got {k}, {u}")
        if 2 * (k + u) + 2 * k > self.seq_len:
            raise ValueError(f"seq_len={self.seq_len} too short: {k} pairs, {u} updates and {k} queries need "
                             f"{2 * (k + u) + 2 * k} tokens")
        if self.vocab // 2 - 1 < k or self.vocab - self.vocab // 2 < k + (u > 0):
            raise ValueError(f"vocab={self.vocab} too small for {k} distinct keys and values")
        check_power_a(self.power_a)

    @property
    def vocab_size(self) -> int:
        return self.vocab

    def make(self, split: str, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        check_n(n)
        g = generator(split, seed)
        k, u, half = self.num_kv_pairs, self.num_updates, self.vocab // 2
        nv = self.vocab - half
        keys = torch.rand(n, half - 1, generator=g).argsort(1)[:, :k] + 1
        original = torch.rand(n, nv, generator=g).argsort(1)[:, :k]           # value indices in [0, nv)
        which = torch.rand(n, k, generator=g).argsort(1)[:, :u]               # the keys re-assigned
        shift = torch.randint(1, max(nv, 2), (n, u), generator=g)             # any other value: + 1..nv-1
        new = (original.gather(1, which) + shift) % nv
        final = original.scatter(1, which, new) + half
        ctx = 2 * (k + u)
        inputs = torch.randint(self.vocab, (n, self.seq_len), generator=g)
        inputs[:, 0:2 * k:2], inputs[:, 1:2 * k:2] = keys, original + half
        inputs[:, 2 * k:ctx:2], inputs[:, 2 * k + 1:ctx:2] = keys.gather(1, which), new + half
        gaps = query_gaps(power_law_probs((self.seq_len - ctx) // 2, self.power_a), n, k, g)
        rows, pos = torch.arange(n)[:, None], ctx + 2 * gaps
        targets = torch.full((n, self.seq_len), IGNORE, dtype=torch.long)
        inputs[rows, pos], targets[rows, pos] = keys, final
        return inputs, targets
