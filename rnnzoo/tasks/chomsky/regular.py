"""The regular tasks of Delétang et al. 2023 (a finite automaton solves them): even pairs, parity check,
cycle navigation, modular arithmetic without brackets. Each answers one class after the input.

Worked examples (input -> output), from the reference generators' definitions:

- ``EvenPairs``: bits; 1 if the number of ``01`` and ``10`` pairs is odd, else 0 (equivalently: first bit
  != last bit). ``0 0 1 1 1 0`` -> 0 (one ``01``, one ``10``); ``0 1 0 1 0 0 1`` -> 1 (3 + 2 pairs).
- ``ParityCheck``: bits; the number of ones mod 2. ``1 0 1 0 1 0 0`` -> 1; ``0 1 1 1 1`` -> 0.
- ``CycleNavigation``: token t moves by t - 1 (left, stay, right) on a cycle of 5 positions starting at 0;
  the answer is the final position: ``2 0 1 0 0`` (+1 -1 0 -1 -1) -> -2 mod 5 = 3.
- ``ModularArithmetic``: digits 0-4 and operators ``+ - *`` (tokens 5, 6, 7) alternating, odd length,
  evaluated with the usual precedence, mod 5: ``1 + 2 * 3`` -> 2; ``1 - 1 - 1`` -> 4.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rnnzoo.tasks.chomsky.base import ChomskyTask

OPS = "+-*"  # token 5 + i; the reference's fourth operator symbol (a blank) is never sampled


@dataclass(frozen=True)
class EvenPairs(ChomskyTask):
    level = "regular"

    def sample(self, length, n, g):
        x = torch.randint(2, (n, length), generator=g)
        return x, (x[:, :1] != x[:, -1:]).long()


@dataclass(frozen=True)
class ParityCheck(ChomskyTask):
    level = "regular"

    def sample(self, length, n, g):
        x = torch.randint(2, (n, length), generator=g)
        return x, x.sum(1, keepdim=True) % 2


@dataclass(frozen=True)
class CycleNavigation(ChomskyTask):
    level = "regular"
    input_size = 3
    output_size = 5

    def sample(self, length, n, g):
        x = torch.randint(3, (n, length), generator=g)
        return x, (x - 1).sum(1, keepdim=True) % 5


def evaluate_mod5(tokens: list[int]) -> int:
    """A flat expression (digits 0-4 and operator tokens 5-7) evaluated with precedence, mod 5."""
    return eval("".join(str(t) if t < 5 else OPS[t - 5] for t in tokens)) % 5  # only digits and + - *


@dataclass(frozen=True)
class ModularArithmetic(ChomskyTask):
    """Even lengths are shortened by one, as in the reference (an expression has odd length)."""

    level = "regular"
    input_size = 9  # 5 digits, + - *, and the reference's unused blank operator
    output_size = 5

    def sample(self, length, n, g):
        length -= 1 - length % 2
        x = torch.empty(n, length, dtype=torch.long)
        x[:, 0::2] = torch.randint(5, (n, length // 2 + 1), generator=g)
        x[:, 1::2] = torch.randint(5, 8, (n, length // 2), generator=g)
        return x, torch.tensor([[evaluate_mod5(row)] for row in x.tolist()])
