"""What the Chomsky-hierarchy tasks share (Delétang et al. 2023, "Neural Networks and the Chomsky Hierarchy",
google-deepmind/neural_networks_chomsky_hierarchy): an input string, then an output of known length read off
at the positions after it, trained on lengths up to 40 and scored on unseen lengths 41..500.

Layout for a causal LM: the input ``x_1 .. x_N``, then a separator, then N_out - 1 blanks; the output token
``y_j`` is the target at position N + j - 1 (the separator for ``y_1``): the paper's non-autoregressive
setting, where the model is given the output length and emits one output per step. Inputs and outputs
share ids (input alphabet and output alphabet both start at 0); separator and blank are the two ids after
the larger alphabet. Example (reverse string, N=3): inputs ``1 0 0 S B B``, targets ``- - - 0 0 1``.

Training (split "train") draws one length per batch uniformly from [min_length, seq_len] (the paper's
uniform curriculum); other splits use ``seq_len``. Accuracy is per output token, over the positions the
task's ``accuracy_mask`` keeps (the paper ignores the zero padding after a termination token); the
headline score is the mean accuracy over the test lengths (the paper's score averages every length
41..500; the default ``test_lens`` are six evenly spaced points of that range, to keep CPU runs short).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import ClassVar

import torch

from rnnzoo.tasks.base import IGNORE, Task, check_n, generator

PAPER = "Delétang et al. 2023, Neural Networks and the Chomsky Hierarchy (ICLR)"
TEST_LENS = (41, 133, 225, 316, 408, 500)  # evenly spaced over the paper's 41..500


def python_rng(g: torch.Generator) -> random.Random:
    """A ``random.Random`` seeded from ``g``, for the generators written as Python loops (brackets, stacks)."""
    return random.Random(int(torch.randint(2 ** 62, (1,), generator=g)))


@dataclass(frozen=True)
class ChomskyTask(Task):
    """Base config; subclasses set the alphabets and implement ``sample``."""

    paper = PAPER
    kind = "state"
    level: ClassVar[str] = ""        # "regular", "dcf" (deterministic context-free) or "cs" (context-sensitive)
    input_size: ClassVar[int] = 2
    output_size: ClassVar[int] = 2
    min_length: ClassVar[int] = 1
    seq_len: int = 40                 # the longest training length
    test_lens: tuple[int, ...] = TEST_LENS

    def __post_init__(self) -> None:
        if self.seq_len < self.min_length:
            raise ValueError(f"seq_len must be >= {self.min_length} for {type(self).__name__}, got {self.seq_len}")
        if not self.test_lens or min(self.test_lens) < self.min_length:
            raise ValueError(f"test_lens must be non-empty and >= {self.min_length}, got {self.test_lens}")

    @property
    def vocab_size(self) -> int:
        return max(self.input_size, self.output_size) + 2

    @property
    def separator(self) -> int:
        return max(self.input_size, self.output_size)

    def test_lengths(self) -> tuple[int, ...]:
        return self.test_lens

    def sample(self, length: int, n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """n strings of input length ``length`` -> (x [n, N] in [0, input_size), y [n, N_out] in [0, output_size))."""
        raise NotImplementedError

    def accuracy_mask(self, y: torch.Tensor) -> torch.Tensor:
        """[n, N_out] bool: the output positions that count for accuracy (all, unless overridden)."""
        return torch.ones_like(y, dtype=torch.bool)

    def make(self, split: str, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        check_n(n)
        g = generator(split, seed)
        length = (int(torch.randint(self.min_length, self.seq_len + 1, (1,), generator=g)) if split == "train"
                  else self.seq_len)
        x, y = self.sample(length, n, g)
        out = y.shape[1]
        blanks = torch.full((n, out), self.separator + 1, dtype=torch.long)
        blanks[:, 0] = self.separator
        inputs = torch.cat([x, blanks], 1)
        targets = torch.cat([torch.full_like(x, IGNORE), y], 1)
        return inputs, targets

    def score(self, logits: torch.Tensor, targets: torch.Tensor) -> float:
        """Per-token accuracy over the output positions kept by ``accuracy_mask``. logits [n, T, V]."""
        first = int((targets[0] != IGNORE).nonzero()[0, 0])
        y, pred = targets[:, first:], logits[:, first:].argmax(-1)
        mask = self.accuracy_mask(y)
        return float(((pred == y) & mask).sum() / mask.sum())

    def headline(self, accuracy: dict[int, float]) -> float:
        """The paper's score: the mean accuracy over the test lengths."""
        return sum(accuracy.values()) / len(accuracy)


def terminated_mask(y: torch.Tensor, terminal: int) -> torch.Tensor:
    """[n, N_out] bool: positions up to and including the first ``terminal`` token of each row."""
    first = (y == terminal).long().argmax(1, keepdim=True)
    return torch.arange(y.shape[1])[None] <= first
