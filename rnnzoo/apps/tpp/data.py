"""Event sequences: simulated from a known process, or read from a user's CSV file.

A sequence is (times [N] float64, strictly after 0 and non-decreasing; marks [N] int64 in [0, num_marks)).
CSV format: a header ``seq_id,time,mark`` then one event per row; rows of one sequence appear in time order
(other sequences' rows may come between them); marks are integers 0..num_marks-1. Bad rows are refused with
one line naming the file, the line and the problem (unsorted times, a negative gap, an unknown mark).
Sequences go to splits by a hash of their id (80 / 10 / 10 %), so adding a sequence never moves the others.

```python
data = simulated("hawkes", n_sequences=600, n_events=64, seed=0)   # EventData with .process set
data = read_events("events.csv")                                    # .process is None
data.splits["train"][0]                                             # (times [N], marks [N])
```
"""

from __future__ import annotations

import csv
import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnnzoo.apps.tpp.simulate import PROCESSES, Process, simulate

SPLITS = ("train", "valid", "test")
Sequence = tuple[np.ndarray, np.ndarray]


@dataclass
class EventData:
    splits: dict[str, list[Sequence]]
    num_marks: int
    process: Process | None  # the true process of simulated data

    def mean_gap(self) -> float:
        return float(np.mean(np.concatenate([np.diff(t, prepend=0.0) for t, _ in self.splits["train"]])))


def simulated(process: str, n_sequences: int, n_events: int, seed: int) -> EventData:
    """``n_sequences`` of ``n_events`` events each from ``PROCESSES[process]``: 80 / 10 / 10 % by position."""
    if process not in PROCESSES:
        raise ValueError(f"process must be one of {sorted(PROCESSES)}, got {process!r}")
    proc, rng = PROCESSES[process](), np.random.default_rng(seed)
    seqs = [simulate(proc, n_events, rng) for _ in range(n_sequences)]
    a, b = int(0.8 * n_sequences), int(0.9 * n_sequences)
    return EventData({"train": seqs[:a], "valid": seqs[a:b], "test": seqs[b:]}, proc.num_marks, proc)


def split_of(seq_id: str) -> str:
    bucket = int(hashlib.sha1(seq_id.encode()).hexdigest()[:8], 16) % 100
    return "train" if bucket < 80 else "valid" if bucket < 90 else "test"


def read_events(path: str | Path, num_marks: int | None = None) -> EventData:
    """The CSV at ``path``; ``num_marks`` None: one more than the largest mark in the file."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"events file {path} " + ("is a directory" if path.is_dir() else "does not exist"))
    events: dict[str, list[tuple[float, int]]] = {}
    with path.open(newline="", encoding="utf-8") as f:
        rows = csv.reader(f)
        header = [h.strip() for h in next(rows, [])]
        if header != ["seq_id", "time", "mark"]:
            raise ValueError(f"{path}:1: header must be seq_id,time,mark, got {','.join(header)!r}")
        for line, row in enumerate(rows, start=2):
            if not row:
                continue
            if len(row) != 3:
                raise ValueError(f"{path}:{line}: expected 3 fields (seq_id,time,mark), got {len(row)}")
            sid, t, m = row[0].strip(), _number(row[1], path, line), row[2].strip()
            if not (m.isdigit() and (num_marks is None or int(m) < num_marks)):
                allowed = "a non-negative integer" if num_marks is None else f"an integer in [0, {num_marks})"
                raise ValueError(f"{path}:{line}: unknown mark {m!r} in sequence {sid!r}; marks are {allowed}")
            seq = events.setdefault(sid, [])
            last = seq[-1][0] if seq else 0.0
            if t < last:
                what = "time is negative" if not seq else f"negative gap {t - last:g} after time {last:g}"
                raise ValueError(f"{path}:{line}: {what} in sequence {sid!r}; times must be >= 0 and sorted "
                                 "within a sequence")
            seq.append((t, int(m)))
    if not events:
        raise ValueError(f"{path}: no events")
    k = num_marks or 1 + max(m for seq in events.values() for _, m in seq)
    splits: dict[str, list[Sequence]] = {s: [] for s in SPLITS}
    for sid in sorted(events):
        seq = events[sid]
        splits[split_of(sid)].append((np.array([t for t, _ in seq]), np.array([m for _, m in seq], dtype=np.int64)))
    empty = [s for s in SPLITS if not splits[s]]
    if empty:
        raise ValueError(f"{path}: {len(events)} sequences leave split(s) {empty} empty; give more sequences")
    return EventData(splits, k, None)


def _number(text: str, path: Path, line: int) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ValueError(f"{path}:{line}: time {text.strip()!r} is not a finite number")
    return value
