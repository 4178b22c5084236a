"""What every capability task shares: a frozen config dataclass with a pure generator and a metric.

```python
task = tasks.build("mqar", num_kv_pairs=8)        # registry by name, options as keyword overrides
inputs, targets = task.make("train", n=64, seed=0) # [n, T] int64 each; targets == -100 are ignored
accs = task.evaluate(model, n=256, seed=0)         # {test length: accuracy}
```

``make`` is a pure function of (config, split, n, seed): the same call returns the same tensors, and
the train/valid/test streams never share a generator seed. Tasks that probe length generalisation list
their test lengths in ``test_lengths()``; ``at_length(L)`` is the same task at sequence length L.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable, ClassVar

import torch

from rnnzoo.labels import IGNORE

SPLIT_OFFSET = {"train": 0, "valid": 1, "test": 2}


def generator(split: str, seed: int) -> torch.Generator:
    """A torch.Generator for (split, seed); distinct splits never collide (seed * 3 + split offset)."""
    if split not in SPLIT_OFFSET:
        raise ValueError(f"split must be one of {list(SPLIT_OFFSET)}, got {split!r}")
    return torch.Generator().manual_seed(seed * 3 + SPLIT_OFFSET[split])


def check_n(n: int) -> None:
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")


def masked_accuracy(logits: torch.Tensor, targets: torch.Tensor) -> float:
    """argmax == target over positions whose target is not -100. logits [n, T, V], targets [n, T]."""
    mask = targets != IGNORE
    return float(((logits.argmax(-1) == targets) & mask).sum() / mask.sum().clamp(min=1))


def last_label_accuracy(logits: torch.Tensor, targets: torch.Tensor) -> float:
    """Accuracy at the last labelled position of each row (the full-length answer)."""
    mask = targets != IGNORE
    last = (mask.long() * torch.arange(targets.shape[1])).argmax(1)
    rows = torch.arange(targets.shape[0])
    return float((logits[rows, last].argmax(-1) == targets[rows, last]).float().mean())


@dataclass(frozen=True)
class Task:
    """Base config. Subclasses add their fields, set ``paper``/``kind`` and implement ``make``."""

    paper: ClassVar[str] = ""
    kind: ClassVar[str] = "recall"  # "recall" (plotted against state size) or "state" (against length)
    backbone: ClassVar[str] = "lm"  # the bench's model: "lm" (LanguageModel) or a MAD backbone (bench/mad_model.py)
    seq_len: int = 64

    @property
    def vocab_size(self) -> int:
        """Token ids in inputs and targets are in [0, vocab_size)."""
        raise NotImplementedError

    def make(self, split: str, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """n examples -> (inputs [n, T], targets [n, T]) int64, targets -100 where ignored."""
        raise NotImplementedError

    def test_lengths(self) -> tuple[int, ...]:
        return (self.seq_len,)

    def at_length(self, seq_len: int) -> "Task":
        return dataclasses.replace(self, seq_len=seq_len)

    def score(self, logits: torch.Tensor, targets: torch.Tensor) -> float:
        return masked_accuracy(logits, targets)

    def chance(self) -> float | None:
        """Accuracy of a uniform guess where the task defines it (e.g. 0.5 for a choice between two probes);
        None: the bench takes one over the number of distinct labelled targets."""
        return None

    def headline(self, accuracy: dict[int, float]) -> float:
        """The one number a leaderboard ranks by, from ``evaluate``'s {length: accuracy}: the accuracy at the
        longest test length (tasks with a published score of their own override it)."""
        return accuracy[max(accuracy)]

    @torch.no_grad()
    def evaluate(self, model: Callable[[torch.Tensor], torch.Tensor], n: int, seed: int,
                 batch_size: int = 64) -> dict[int, float]:
        """Accuracy of ``model`` (tokens [B, T] -> logits [B, T, V]) on n test examples per test length."""
        out = {}
        for length in self.test_lengths():
            task = self.at_length(length)
            inputs, targets = task.make("test", n, seed)
            logits = torch.cat([model(inputs[i:i + batch_size]) for i in range(0, n, batch_size)])
            out[length] = task.score(logits, targets)
        return out


@dataclass(frozen=True)
class StateTrackingTask(Task):
    """Base of the length-generalisation tasks (parity, modular arithmetic, permutations): labels at every
    prefix, trained at ``seq_len``, scored at the final position for each of the subclass's ``test_lens``."""

    kind: ClassVar[str] = "state"

    def test_lengths(self) -> tuple[int, ...]:
        return self.test_lens

    def score(self, logits: torch.Tensor, targets: torch.Tensor) -> float:
        return last_label_accuracy(logits, targets)

