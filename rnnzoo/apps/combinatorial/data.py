"""Task generators: a task name plus a pure function of (seed, batch, n) giving inputs and exact targets.

Pointer targets index the model's memory, whose slot 0 is *end*: ``j >= 1`` means input ``j - 1``.
Padding is ``IGNORE`` (-100, ``rnnzoo.labels``: skipped by the loss).

```text
sort         src [B, n, 1] uniform(0, 1)    targets [B, n]     argsort + 1, e.g. (.7 .1 .4) -> 2 3 1
convex_hull  src [B, n, 2] uniform square   targets [B, n + 1] hull (CCW from lowest x) + 1, then 0, then IGNORE
tsp          src [B, n, 2] uniform square   targets [B, n]     optimal tour (Held-Karp) from city 0, + 1
reverse      src [B, n] digits 0..9         targets [B, n + 1] reversed digits + 1 (token head), then 0 (end)
```
"""

from __future__ import annotations

import numpy as np

from rnnzoo.apps.combinatorial.solvers import convex_hull, held_karp
from rnnzoo.labels import IGNORE

TASKS = ("sort", "convex_hull", "tsp", "reverse")
POINTER_TASKS = ("sort", "convex_hull", "tsp")
ORDERS = ("random", "ascending", "descending")
DIGITS = 10


def check_task(task: str) -> None:
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; valid tasks: {', '.join(TASKS)}")


def in_features(task: str) -> int:
    return 1 if task == "sort" else 2


def target_len(task: str, n: int) -> int:
    """Decoding steps for inputs of size n (end token included where the task has one)."""
    return n + 1 if task in ("convex_hull", "reverse") else n


def make_batch(task: str, seed, batch: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(src, targets) for ``batch`` random instances of size ``n``; a pure function of (task, seed, batch, n).
    ``seed`` may be an int or a sequence of ints (``np.random.default_rng`` seeding)."""
    check_task(task)
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if task == "tsp" and not 3 <= n <= 12:
        raise ValueError(f"tsp instances are solved exactly for 3 <= n <= 12, got n={n}")
    rng = np.random.default_rng(seed)
    if task == "reverse":
        src = rng.integers(0, DIGITS, (batch, n))
        return src, np.concatenate((src[:, ::-1] + 1, np.zeros((batch, 1), np.int64)), 1)
    src = rng.random((batch, n, in_features(task)))
    if task == "sort":
        return src, np.argsort(src[..., 0], axis=1, kind="stable") + 1
    if task == "tsp":
        return src, held_karp(src)[0] + 1
    targets = np.full((batch, n + 1), IGNORE, dtype=np.int64)
    for i in range(batch):
        hull = convex_hull(src[i]) + 1
        targets[i, :len(hull)] = hull
        targets[i, len(hull)] = 0
    return src, targets


def reorder(task: str, src: np.ndarray, targets: np.ndarray, order: str) -> tuple[np.ndarray, np.ndarray]:
    """The same instances with their inputs presented in ``order`` (by the first feature), pointer targets
    renumbered to follow their inputs. ``random`` leaves them as generated."""
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
    if task not in POINTER_TASKS:
        raise ValueError(f"input order is defined for the set tasks {POINTER_TASKS}, not {task!r}")
    if order == "random":
        return src, targets
    perm = np.argsort(src[..., 0], axis=1, kind="stable")  # new position i holds old input perm[i]
    if order == "descending":
        perm = perm[:, ::-1]
    new_pos = np.argsort(perm, axis=1)
    src = np.take_along_axis(src, perm[..., None], 1)
    mapped = np.take_along_axis(new_pos, np.clip(targets - 1, 0, None), 1) + 1
    return src, np.where(targets >= 1, mapped, targets)
