"""Multi-query associative recall (MQAR), exactly as in Zoology (Arora et al. 2023, "Zoology: Measuring
and improving recall in efficient language models", Sec. 3; zoology/data/associative_recall.py).

Keys come from [1, V/2) and values from [V/2, V), distinct within an example. The first 2k tokens are
the k key-value pairs; every key is then queried once, at position 2k + 2g, where the gaps g are drawn
without replacement with P(g) proportional to (g + 1) ** (power_a - 1), g in [0, (T - 2k) / 2): a power
law, so most queries come soon after the context (power_a = 1 is uniform). Every other position holds
a random token from [0, V). The target at a query position is the key's value; all else is ignored.

Example (V=12, k=2, T=16; ``.`` = random filler, targets ``-`` = -100 ignored):

    inputs : 2 8 4 7 . . 4 . . . . . 2 . . .
    targets: - - - - - - 7 - - - - - 8 - - -

``jrt=True`` (Just read twice, Arora et al. 2024) repeats the 2k context tokens before the queries,
so sequences are T + 2k long: ``2 8 4 7 2 8 4 7 . . 4 ...``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rnnzoo.tasks.base import IGNORE, Task, check_n, generator


def power_law_probs(space: int, power_a: float) -> torch.Tensor:
    """[space] float64: P(gap = g) proportional to (g + 1) ** (power_a - 1), g = 0 .. space - 1 (Zoology's law
    of query gaps; power_a = 1 is uniform)."""
    p = torch.arange(1, space + 1, dtype=torch.float64) ** (power_a - 1)
    return p / p.sum()


def check_power_a(power_a: float) -> None:
    """The exponent of ``power_law_probs`` must be in (0, 1] (1: uniform gaps)."""
    if not 0 < power_a <= 1:
        raise ValueError(f"power_a must be in (0, 1], got {power_a}")


def query_gaps(probs: torch.Tensor, n: int, k: int, g: torch.Generator) -> torch.Tensor:
    """[n, k] int64: k distinct gaps per row, drawn without replacement from probs [space] (``power_law_probs``):
    where Zoology's generators place their queries after the context."""
    return torch.multinomial(probs.float().expand(n, -1), k, replacement=False, generator=g)


@dataclass(frozen=True)
class MQAR(Task):
    paper = "Arora et al. 2023, Zoology (MQAR); JRT: Arora et al. 2024, Just read twice"
    kind = "recall"
    seq_len: int = 64
    vocab: int = 8192
    num_kv_pairs: int = 4
    power_a: float = 0.01
    jrt: bool = False

    def __post_init__(self) -> None:
        if self.seq_len % 2:
            raise ValueError(f"seq_len must be even, got {self.seq_len}")
        if 4 * self.num_kv_pairs > self.seq_len or self.num_kv_pairs < 1:
            raise ValueError(f"need 1 <= 4 * num_kv_pairs <= seq_len, got num_kv_pairs={self.num_kv_pairs}, "
                             f"seq_len={self.seq_len}")
        if self.vocab // 2 - 1 < self.num_kv_pairs:
            raise ValueError(f"vocab={self.vocab} too small for {self.num_kv_pairs} distinct keys")
        check_power_a(self.power_a)

    @property
    def vocab_size(self) -> int:
        return self.vocab

    def gap_probs(self) -> torch.Tensor:
        """[space] the power law P(gap = g), g = 0 .. (T - 2k)/2 - 1, before drawing without replacement."""
        return power_law_probs((self.seq_len - 2 * self.num_kv_pairs) // 2, self.power_a)

    def make(self, split: str, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """-> (inputs, targets) [n, T] (T + 2k with jrt) int64."""
        check_n(n)
        g = generator(split, seed)
        k, half, ctx = self.num_kv_pairs, self.vocab // 2, 2 * self.num_kv_pairs
        keys = torch.rand(n, half - 1, generator=g).argsort(1)[:, :k] + 1
        values = torch.rand(n, self.vocab - half, generator=g).argsort(1)[:, :k] + half
        gaps = query_gaps(self.gap_probs(), n, k, g)  # key i is queried at gap i
        inputs = torch.randint(self.vocab, (n, self.seq_len), generator=g)
        targets = torch.full((n, self.seq_len), IGNORE, dtype=torch.long)
        inputs[:, 0:ctx:2], inputs[:, 1:ctx:2] = keys, values
        rows, pos = torch.arange(n)[:, None], ctx + 2 * gaps
        inputs[rows, pos], targets[rows, pos] = keys, values
        if self.jrt:
            inputs = torch.cat([inputs[:, :ctx], inputs], 1)
            targets = torch.cat([torch.full((n, ctx), IGNORE, dtype=torch.long), targets], 1)
        return inputs, targets
