"""Synthetic tasks: a config dataclass with ``make(split, n, seed) -> tensors`` and a metric each."""

from rnnzoo.tasks.markov import MarkovConfig

__all__ = ["MarkovConfig"]
