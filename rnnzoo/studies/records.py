"""What the objective studies share: resumable JSONL records keyed by their settings, mean and spread over
seeds, a markdown table, and training a causal LM on a synthetic task with a given loss."""

from __future__ import annotations

import hashlib
import json
import statistics
import sys
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from rnnzoo.io import append_jsonl, read_jsonl
from rnnzoo.provenance import provenance
from rnnzoo.tasks import Task
from rnnzoo.train import TrainConfig, Trainer
from rnnzoo.train.trainer import LossFn

RESULTS = "results.jsonl"


def key_of(settings: dict) -> str:
    """A hash of every setting that changes a run's result."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:20]


def load(out: str | Path) -> dict[str, dict]:
    """key -> record of out/results.jsonl (first one wins; damaged lines skipped with a warning)."""
    records: dict[str, dict] = {}
    for r in read_jsonl(Path(out) / RESULTS, lambda m: print(m, file=sys.stderr)):
        records.setdefault(r.get("key"), r)
    return records


def run_missing(out: str | Path, settings: list[dict], run_one: Callable[[dict], dict],
                log: Callable[[str], None] = print) -> list[dict]:
    """Run ``run_one(settings)`` for every settings dict without a record in out/results.jsonl, appending each
    finished record (with its key, settings and provenance) at once; returns the records of ``settings``.
    Processes started on one ``out`` with different seeds split a study between cores (each record is one
    ``O_APPEND`` write; a run another process has finished is skipped)."""
    done = load(out)
    for i, s in enumerate(settings):
        key = key_of(s)
        if key in done or key in (done := {**load(out), **done}):  # or another process sharing out finished it
            continue
        log(f"[{i + 1}/{len(settings)}] {json.dumps(s, sort_keys=True)}")
        record = {"key": key, "settings": s, **run_one(s), "provenance": provenance()}
        append_jsonl(Path(out) / RESULTS, record)
        done[key] = record
    return [done[key_of(s)] for s in settings]


def present(out: str | Path, settings: list[dict]) -> list[dict]:
    """The records of ``settings`` already in out/results.jsonl (to report on a run still in progress)."""
    done = load(out)
    return [done[key_of(s)] for s in settings if key_of(s) in done]


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


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows]) + "\n"


def train_on_task(model: nn.Module, task: Task, loss_fn: LossFn, steps: int, batch_size: int, lr: float,
                  seed: int) -> dict:
    """Train ``model`` on ``task``'s train stream (batch of step s: seed * 1_000_003 + s) on the CPU with
    ``loss_fn``; returns the Trainer's summary."""
    config = TrainConfig(steps=steps, lr=lr, seed=seed, warmup_steps=max(1, steps // 10), progress=False,
                         log_every=max(1, steps // 10), device="cpu")
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
