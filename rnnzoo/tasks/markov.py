"""A sparse random Markov chain language: the smallest task on which a sequence model must use context.

Each token has ``branching`` allowed successors, chosen once per ``chain_seed`` and equally likely, so
the best achievable next-token loss is log(branching) nats while a model that ignores context is stuck
at the unigram entropy (about log(vocab_size)). Used by the demo and the slow "it trains" tests.

Example (vocab 4, branching 2): 0 -> {1, 3}, 1 -> {0, 2}, ...; a sequence ``0 3 1 2 ...``;
inputs = seq[:-1], targets = seq[1:] (every position is scored).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

SPLIT_OFFSET = {"train": 0, "valid": 1, "test": 2}


@dataclass(frozen=True)
class MarkovConfig:
    vocab_size: int = 32
    branching: int = 2
    seq_len: int = 64
    chain_seed: int = 1234

    def __post_init__(self) -> None:
        if not 1 <= self.branching <= self.vocab_size:
            raise ValueError(f"branching must be in [1, vocab_size={self.vocab_size}], got {self.branching}")
        if self.seq_len < 2:
            raise ValueError(f"seq_len must be >= 2, got {self.seq_len}")

    def transition(self) -> torch.Tensor:
        """[V, V] row-stochastic matrix with ``branching`` equal non-zeros per row."""
        g = torch.Generator().manual_seed(self.chain_seed)
        succ = torch.stack([torch.randperm(self.vocab_size, generator=g)[: self.branching]
                            for _ in range(self.vocab_size)])
        p = torch.zeros(self.vocab_size, self.vocab_size, dtype=torch.float64)
        return p.scatter_(1, succ, 1.0 / self.branching)

    def entropies(self) -> tuple[float, float]:
        """(unigram entropy of the tokens, conditional entropy of the next token), in nats."""
        p = self.transition()
        pi = torch.full((self.vocab_size,), 1.0 / self.vocab_size, dtype=torch.float64)
        for _ in range(self.seq_len):  # token marginal averaged over the positions of a sequence
            pi = 0.5 * pi + 0.5 * (pi @ p)
        pi = pi[pi > 0]
        return float(-(pi * pi.log()).sum()), math.log(self.branching)

    def make(self, split: str, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """n sequences -> (inputs [n, seq_len-1], targets [n, seq_len-1]) int64."""
        if split not in SPLIT_OFFSET:
            raise ValueError(f"split must be one of {list(SPLIT_OFFSET)}, got {split!r}")
        g = torch.Generator().manual_seed(seed * 3 + SPLIT_OFFSET[split])
        p = self.transition().float()
        seq = torch.empty(n, self.seq_len, dtype=torch.long)
        seq[:, 0] = torch.randint(self.vocab_size, (n,), generator=g)
        for t in range(1, self.seq_len):
            seq[:, t] = torch.multinomial(p[seq[:, t - 1]], 1, generator=g)[:, 0]
        return seq[:, :-1], seq[:, 1:]
