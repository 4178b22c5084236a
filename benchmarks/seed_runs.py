"""The records of a benchmark script that runs rows (models or options) over seeds, one JSON line per finished
run in an append-only file, keyed by (row, seed, settings): which runs are still to do (checked before each
run, so an interrupted script resumes and two processes can share a file), the records by row for its table (the first
record of a key counts, should two processes race), and a table cell, mean ± sample sd over seeds.

Used by ``rec_cold.py`` and ``rec_options.py`` (whose records hold ``row``, ``seed`` and ``settings``), and for
``records`` and ``mean_sd`` alone by ``tag_table.py``, ``tpp_table.py`` and ``rec_table.py`` (and ``rec_row`` by
``rec_cold.py`` and ``rec_table.py``).
"""

from __future__ import annotations

import json
import statistics
import sys
from collections.abc import Iterator
from pathlib import Path

from rnnzoo.io import read_jsonl


def key(record: dict) -> tuple:
    """(row, seed, settings as sorted JSON): what makes two records the same run."""
    return record["row"], record["seed"], json.dumps(record["settings"], sort_keys=True)


def records(path: Path) -> list[dict]:
    """The finished runs in ``path`` ([] before the first); a damaged line is skipped with a warning."""
    return read_jsonl(path, warn=lambda msg: print(msg, file=sys.stderr))


def done(path: Path) -> set[tuple]:
    """The keys of the runs in ``path``."""
    return {key(r) for r in records(path)}


def pending(path: Path, seeds: list[int], rows: list[str], settings: dict) -> Iterator[tuple[int, str]]:
    """(seed, row) of every run with ``settings`` not yet in ``path``, seed by seed (a partial file has every row
    at the lower seeds); each checked against the file anew just before it is yielded, after the previous run,
    as another process may share the file."""
    key = json.dumps(settings, sort_keys=True)
    for seed in seeds:
        for row in rows:
            if (row, seed, key) not in done(path):
                yield seed, row


def by_row(path: Path) -> dict[str, list[dict]]:
    """row -> its records in file order, one per (seed, settings): the first, should two processes race."""
    rows: dict[str, list[dict]] = {}
    seen = set()
    for r in records(path):
        if key(r) not in seen:
            seen.add(key(r))
            rows.setdefault(r["row"], []).append(r)
    return rows


def mean_sd(xs: list[float]) -> str:
    """``mean ± sd`` (sample sd) to 4 places over seeds, or the one value."""
    return f"{statistics.mean(xs):.4f} ± {statistics.stdev(xs):.4f}" if len(xs) > 1 else f"{xs[0]:.4f}"


def rec_row(name: str, rs: list[dict], cells: list[str]) -> str:
    """A recommender table's row: name, seeds, ``cells``, then each run's best epoch / epochs run ("-" where it
    has none), the parameter count and the mean wall seconds of the runs ``rs``."""
    epochs = ", ".join(f"{r['best_epoch']}/{r['epochs']:g}" if r.get("best_epoch") else "-" for r in rs)
    wall = statistics.mean(r["wall_seconds"] for r in rs)
    return f"| {name} | {len(rs)} | " + " | ".join(cells) + f" | {epochs} | {rs[0]['params']:,} | {wall:.0f} |"
