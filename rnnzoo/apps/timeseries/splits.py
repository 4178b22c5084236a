"""Time-ordered splits, a scaler fitted on the training part only, and sliding forecast windows.

```python
parts = split_series(series.values, valid=0.1, test=0.2)   # Split: boundaries in time order
scaler = Scaler.fit(series.values[:parts.train_end])       # statistics of the training part only
x, y = windows(scaler.transform(series.values), lookback=36, horizon=12, targets=(parts.valid_end, None))
```

A window's input may reach back into earlier parts (the past is known at forecast time); its targets lie
wholly inside one part, so no test value is ever a training target or input to the scaler.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Split:
    """Boundaries of a series of ``length`` steps: train [0, train_end), valid [train_end, valid_end),
    test [valid_end, length)."""

    train_end: int
    valid_end: int
    length: int


def split_series(values: np.ndarray, valid: float = 0.1, test: float = 0.2) -> Split:
    """Train / valid / test boundaries of values [T, C] in time order, the last ``test`` fraction for test."""
    if not (0 <= valid < 1 and 0 < test < 1 and valid + test < 1):
        raise ValueError(f"valid must be in [0, 1) and test in (0, 1) with valid + test < 1, got "
                         f"valid={valid}, test={test}")
    n = len(values)
    n_test, n_valid = int(round(n * test)), int(round(n * valid))
    return Split(n - n_test - n_valid, n - n_test, n)


@dataclass(frozen=True)
class Scaler:
    """Per-channel standardisation: mean [C] and std [C] (std of a constant channel taken as 1)."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, train: np.ndarray) -> "Scaler":
        """Statistics of train [T, C] (pass only the training part: nothing later may leak in)."""
        std = train.std(axis=0)
        return cls(train.mean(axis=0), np.where(std > 0, std, 1.0))

    def transform(self, values: np.ndarray) -> np.ndarray:
        return (values - self.mean) / self.std

    def inverse(self, values: np.ndarray) -> np.ndarray:
        return values * self.std + self.mean


def windows(values: np.ndarray, lookback: int, horizon: int, targets: tuple[int, int | None]
            ) -> tuple[np.ndarray, np.ndarray]:
    """Every (input, target) pair of values [T, C] whose targets lie in [targets[0], targets[1]) (None: T):
    x [N, lookback, C], y [N, horizon, C], stride 1, in time order. ValueError when there is none."""
    start, end = targets[0], len(values) if targets[1] is None else targets[1]
    first = max(start, lookback)  # the first target step with a full lookback before it
    n = end - horizon - first + 1
    if n < 1:
        raise ValueError(f"too short: {end - start} steps from {start} hold no window of lookback {lookback} + "
                         f"horizon {horizon} (series of {len(values)} steps); pass a shorter --lookback or "
                         f"--horizon")
    x = np.stack([values[t - lookback:t] for t in range(first, first + n)])
    y = np.stack([values[t:t + horizon] for t in range(first, first + n)])
    return x, y
