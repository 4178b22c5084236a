"""What the studies share: resumable JSONL records, mean and spread over seeds, a markdown table, and training
a causal LM on a synthetic task with a given loss.

One store, :class:`Records`: each finished run is one JSONL line holding the fields that identify it, so a killed
study rerun with the same command skips what is done and appends the rest. Two ways to identify a run:

- by named fields (``Records(path, key=("model", "seed", ...))``; the fields are stored at the top of the line);
  a study's store is ``study_records(path, key, config)``, which adds ``setup`` = ``setup_of`` the config to the
  key, fills it into every lookup and keeps to it in ``current``;
- by a hash of its whole settings dict (``run_missing`` / ``present`` on ``out/results.jsonl``: the line holds
  ``key`` = ``key_of(settings)`` and ``settings``).
"""

from __future__ import annotations

import hashlib
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from rnnzoo.io import append_jsonl, read_jsonl
from rnnzoo.provenance import provenance
from rnnzoo.tasks import Task
from rnnzoo.train import TrainConfig, Trainer
from rnnzoo.train.trainer import LossFn

RESULTS = "results.jsonl"


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


class Records:
    """A JSONL file as a set of runs; ``key`` names the fields that identify one (the first line of an identity
    wins; damaged lines are skipped with a warning)."""

    def __init__(self, path: str | Path, key: tuple[str, ...], setup: str | None = None):
        self.path, self.key, self.setup = Path(path), key, setup
        self.rows = read_jsonl(self.path, warn=_warn)

    def _id(self, row: dict) -> tuple:
        return tuple(row.get(k) for k in self.key)

    def _with_setup(self, ident: dict) -> dict:
        return ident if self.setup is None else {**ident, "setup": self.setup}

    def current(self, seeds) -> list[dict]:
        """The recorded runs of this store's setup whose seed is in ``seeds``."""
        return [r for r in self.rows if r.get("setup") == self.setup and r["seed"] in seeds]

    def get(self, **ident) -> dict | None:
        """The recorded run with these key fields (``setup`` filled in), or None."""
        ident = self._with_setup(ident)
        want = tuple(ident[k] for k in self.key)
        return next((r for r in self.rows if self._id(r) == want), None)

    def run(self, compute: Callable[[], dict], **ident) -> dict:
        """The recorded run ``ident``, or ``compute()`` merged with ``ident`` and stamped (``provenance`` and
        ``cost``: its wall and CPU seconds and the machine's 1-minute load at the end), appended, returned.
        The file is read again first, so processes running other seeds of the study side by side see each
        other's runs (each record is one ``O_APPEND`` write)."""
        ident = self._with_setup(ident)
        if self.get(**ident) is None:  # or another process sharing the file finished it
            self.rows = read_jsonl(self.path, warn=_warn)
        row = self.get(**ident)
        if row is None:
            wall, cpu = time.perf_counter(), time.process_time()
            result = compute()
            cost = {"wall_s": round(time.perf_counter() - wall, 2), "cpu_s": round(time.process_time() - cpu, 2),
                    "load_1m": round(os.getloadavg()[0], 2)}
            row = {**ident, **result, "cost": cost, "provenance": provenance()}
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


NOT_RESULT = ("quick", "seeds", "out", "out_dir", "doc", "report_only")  # config fields that never change a run


def setup_of(config: dict, per_run: tuple[str, ...] = ()) -> str:
    """The hash of a study config's fields that change a run's result: not where it writes, which seeds run,
    nor the list fields ``per_run`` whose values each run records itself (e.g. ``levels`` when every run holds
    its ``level``). Records store it as ``setup``, so a run made under other settings (``--steps 1000``, a new
    default) is never resumed into, or averaged with, runs made under these."""
    return key_of({k: v for k, v in config.items() if k not in NOT_RESULT and k not in per_run})


def study_records(path: str | Path, key: tuple[str, ...], config: dict, per_run: tuple[str, ...] = ()) -> Records:
    """A study's store: runs identified by ``key`` and the ``setup_of(config, per_run)`` they were made under."""
    return Records(path, key=(*key, "setup"), setup=setup_of(config, per_run))


def cost_lines(rows: list[dict]) -> list[str]:
    """A paragraph on what the recorded runs cost (the ``cost`` that ``Records.run`` stamps; older runs lack it)."""
    costed = [r["cost"] for r in rows if "cost" in r]
    if not costed:
        return []
    cpu, wall = sum(c["cpu_s"] for c in costed), sum(c["wall_s"] for c in costed)
    loads = [c["load_1m"] for c in costed]
    return [f"**Cost.** {len(costed)} of the {len(rows)} runs shown record their cost: {cpu / 60:.1f} CPU-minutes, "
            f"{wall / 60:.1f} minutes of wall clock run one after another (one thread each), at a load average of "
            f"{min(loads):.1f}-{max(loads):.1f} on a {rows[0]['provenance'].get('logical_cores', '?')}-core "
            f"{rows[0]['provenance'].get('cpu', 'CPU')}."]


def key_of(settings: dict) -> str:
    """A hash of every setting that changes a run's result."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:20]


def hashed(out: str | Path) -> Records:
    """out/results.jsonl with runs identified by ``key_of`` their settings."""
    return Records(Path(out) / RESULTS, key=("key",))


def run_missing(out: str | Path, settings: list[dict], run_one: Callable[[dict], dict],
                log: Callable[[str], None] = print) -> list[dict]:
    """Run ``run_one(settings)`` for every settings dict without a record in out/results.jsonl, appending each
    finished record (with its key, settings and provenance) at once; returns the records of ``settings``.
    Processes started on one ``out`` with different seeds split a study between cores (a run another process
    has finished is skipped)."""
    records = hashed(out)

    def compute(i: int, s: dict) -> dict:
        log(f"[{i + 1}/{len(settings)}] {json.dumps(s, sort_keys=True)}")
        return {"settings": s, **run_one(s)}

    return [records.run(lambda: compute(i, s), key=key_of(s)) for i, s in enumerate(settings)]


def present(out: str | Path, settings: list[dict]) -> list[dict]:
    """The records of ``settings`` already in out/results.jsonl (to report on a run still in progress)."""
    records = hashed(out)
    found = (records.get(key=key_of(s)) for s in settings)
    return [r for r in found if r is not None]


def mean_sd(values: list[float]) -> tuple[float, float]:
    """(mean, sample sd) of ``values``; (nan, nan) for none (a configuration not run yet)."""
    if not values:
        return float("nan"), float("nan")
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def fmt(values: list[float], digits: int = 3) -> str:
    """"mean ± sd (n)" of ``values``; "–" for none."""
    if not values:
        return "–"
    m, s = mean_sd(values)
    return f"{m:.{digits}f} ± {s:.{digits}f} ({len(values)})"


def fmt_std(values: list[float]) -> str:
    """"mean ± std" of ``values`` to 3 places, std the population one (numpy's); the value alone for one, "—"
    for none."""
    if not values:
        return "—"
    return f"{np.mean(values):.3f} ± {np.std(values):.3f}" if len(values) > 1 else f"{values[0]:.3f}"


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows]) + "\n"


def train_on_task(model: nn.Module, task: Task, loss_fn: LossFn, steps: int, batch_size: int, lr: float,
                  seed: int, weight_decay: float | None = None) -> dict:
    """Train ``model`` on ``task``'s train stream (batch of step s: seed * 1_000_003 + s) on the CPU with
    ``loss_fn`` (AdamW with ``weight_decay``; None: the Trainer's default); returns the Trainer's summary."""
    decay = {} if weight_decay is None else {"weight_decay": weight_decay}
    config = TrainConfig(steps=steps, lr=lr, seed=seed, warmup_steps=max(1, steps // 10), progress=False,
                         log_every=max(1, steps // 10), device="cpu", **decay)
    trainer = Trainer(model, config, lambda step: task.make("train", batch_size, seed * 1_000_003 + step), loss_fn)
    summary = trainer.fit()
    model.eval()
    return summary


@torch.no_grad()
def task_accuracy(model: nn.Module, task: Task, n: int, seed: int) -> dict[str, float]:
    """{test length: accuracy} of ``model`` on ``task``'s test split."""
    return {str(k): v for k, v in task.evaluate(model, n, seed).items()}


def plot_path(out_doc: Path) -> Path:
    return out_doc.with_suffix(".png")


def command(name: str, config) -> str:
    """The ``rnnzoo study`` command line that reruns ``config`` (flags for the fields that differ from the
    defaults)."""
    flags = []
    for field, value in vars(config).items():
        if value == getattr(type(config)(), field):
            continue
        flag = "--" + field.replace("_", "-")
        if isinstance(value, bool):
            flags.append(flag if value else "--no-" + field.replace("_", "-"))
        else:
            flags.append(f"{flag} {','.join(map(str, value)) if isinstance(value, tuple) else value}")
    return " ".join(["rnnzoo study", name, *flags])
