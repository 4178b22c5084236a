"""Resumable study records: each finished run is one JSONL line keyed by its identity, so a killed study rerun
with the same command skips what is done and appends the rest."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable

from rnnzoo.io import append_jsonl, read_jsonl
from rnnzoo.provenance import provenance


class Records:
    """``results/studies/<name>/<file>.jsonl`` as a set of runs; ``key`` names the fields that identify one."""

    def __init__(self, path: str | Path, key: tuple[str, ...]):
        self.path, self.key = Path(path), key
        self.rows = read_jsonl(self.path, warn=lambda m: print(f"warning: {m}", file=sys.stderr))

    def _id(self, row: dict) -> tuple:
        return tuple(row.get(k) for k in self.key)

    def get(self, **ident) -> dict | None:
        """The recorded run with these key fields, or None."""
        want = tuple(ident[k] for k in self.key)
        return next((r for r in self.rows if self._id(r) == want), None)

    def run(self, compute: Callable[[], dict], **ident) -> dict:
        """The recorded run ``ident``, or ``compute()`` merged with ``ident`` and stamped, appended, returned.
        The file is read again first, so processes running other seeds of the study side by side see each other's runs."""
        self.rows = read_jsonl(self.path, warn=lambda m: print(f"warning: {m}", file=sys.stderr))
        row = self.get(**ident)
        if row is None:
            row = {**ident, **compute(), "provenance": provenance()}
            self.path.parent.mkdir(parents=True, exist_ok=True)
            append_jsonl(self.path, row)
            self.rows.append(row)
        return row


def coverage(done: int, planned: int) -> list[str]:
    """A warning paragraph when the page is written before every planned run is recorded."""
    if done >= planned:
        return []
    return [f"**Partial:** {done} of the {planned} planned runs are recorded; the rows below average what exists. "
            f"Rerun the command to complete them (it resumes).", ""]
