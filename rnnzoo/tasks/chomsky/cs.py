"""The context-sensitive tasks of Delétang et al. 2023 (they need a tape: more than a stack): duplicate string,
odds first, bucket sort, binary addition.

Worked examples (input -> output):

- ``DuplicateString``: bits w -> ww. ``1 0 1`` -> ``1 0 1 1 0 1``.
- ``OddsFirst``: bits s_1 .. s_N -> s_1 s_3 s_5 ... s_2 s_4 ..., the paper's definition (1-indexed odd
  positions first). ``0 0 1 1 0 1 0 1`` -> ``0 1 0 0 0 1 1 1``. (The reference code emits the even
  positions first; the task is the same up to that relabelling.)
- ``BucketSort``: tokens from 0-4 -> the same tokens sorted. ``1 0 2 0 4 1 1 2`` -> ``0 0 1 1 1 2 2 4``.
- ``BinaryAddition``: ``n + m`` with both numbers little-endian binary and ``+`` = 2; output the sum in
  little-endian binary, the termination token 2, then zeros up to length N + 1. The first number takes
  a length uniform in [1, N - 2], the second the rest; each is uniform in [1, 2^len - 1], zero-padded.
  ``0 0 1 2 0 1 1 0 1`` (4 + 22) -> ``0 1 0 1 1 2 0 0 0 0`` (26). Accuracy counts up to the termination token.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rnnzoo.tasks.chomsky.base import ChomskyTask, python_rng, terminated_mask


@dataclass(frozen=True)
class DuplicateString(ChomskyTask):
    level = "cs"

    def sample(self, length, n, g):
        x = torch.randint(2, (n, length), generator=g)
        return x, torch.cat([x, x], 1)


@dataclass(frozen=True)
class OddsFirst(ChomskyTask):
    level = "cs"

    def sample(self, length, n, g):
        x = torch.randint(2, (n, length), generator=g)
        return x, torch.cat([x[:, 0::2], x[:, 1::2]], 1)


@dataclass(frozen=True)
class BucketSort(ChomskyTask):
    level = "cs"
    input_size = 5
    output_size = 5

    def sample(self, length, n, g):
        x = torch.randint(5, (n, length), generator=g)
        return x, x.sort(1).values


def little_endian(value: int, width: int) -> list[int]:
    """Bits of ``value``, least significant first, zero-padded to ``width`` (no padding when width is 0)."""
    return [int(b) for b in f"{value:b}".zfill(width)[::-1]]


@dataclass(frozen=True)
class BinaryAddition(ChomskyTask):
    level = "cs"
    input_size = 3
    output_size = 3
    min_length = 3

    def sample(self, length, n, g):
        rng = python_rng(g)
        xs, ys = [], []
        for _ in range(n):
            a_len = rng.randrange(1, length - 1)
            b_len = length - 1 - a_len
            a, b = rng.randint(1, 2 ** a_len - 1), rng.randint(1, 2 ** b_len - 1)
            xs.append(little_endian(a, a_len) + [2] + little_endian(b, b_len))
            out = little_endian(a + b, 0) + [2]
            ys.append(out + [0] * (length + 1 - len(out)))
        return torch.tensor(xs), torch.tensor(ys)

    def accuracy_mask(self, y):
        return terminated_mask(y, 2)
