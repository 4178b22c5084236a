"""Run a suite (mixers x tasks x widths x seeds) into ``out_dir``: results.jsonl, leaderboard.md, plots.

```python
from rnnzoo.bench import get_suite, run_suite
records = run_suite(get_suite("quick"), "bench_results/quick")   # resumes: finished runs are skipped
```

Each finished run appends one complete JSON line to results.jsonl (a single ``os.write`` on an
``O_APPEND`` file); a run killed half-way leaves at most a partial last line, which the next start
drops before appending, so a resumed suite redoes only the runs that have no record.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import time
from pathlib import Path
from typing import Callable

import torch
from tqdm.auto import tqdm

import rnnzoo
from rnnzoo import mixers, tasks
from rnnzoo.bench.report import leaderboard, plot_all
from rnnzoo.spec import parse_mixer_spec, parse_spec, split_list
from rnnzoo.bench.suites import Suite, TaskRun, get_suite
from rnnzoo.io import append_jsonl, atomic_write_bytes
from rnnzoo.models import LanguageModel, LMConfig
from rnnzoo.provenance import provenance
from rnnzoo.train import Trainer, TrainConfig, lm_loss

RESULTS = "results.jsonl"


def run_key(mixer: str, task: str, d_model: int, seed: int) -> str:
    return f"{mixer}|{task}|d_model={d_model}|seed={seed}"


def validate(suite: Suite, strict: bool, log: Callable[[str], None] = print) -> Suite:
    """Check every spec before any training: each task builds, and each mixer builds at each of the suite's
    widths. Unknown task names always raise; unknown mixer names raise when ``strict`` (user-given lists)
    and are skipped with a printed note otherwise (suite entries for mixers that land later). An empty mixer
    list means every causal registered mixer."""
    for run in suite.tasks:
        name, options = parse_spec(run.spec)
        tasks.build(name, **options)
    specs = suite.mixers or tuple(n for n in mixers.names() if mixers.get(n).causal)
    kept = []
    for spec in specs:
        if parse_spec(spec)[0] not in mixers.names() and not strict:
            log(f"note: skipping mixer {spec!r}: not registered in this install "
                f"(registered: {', '.join(mixers.names())})")
            continue
        name, options = parse_mixer_spec(spec)
        for d_model in suite.d_models:  # unknown names/options raise ValueError listing valid ones
            try:
                mixers.make_config(name, d_model, **options)
            except ValueError as e:
                raise ValueError(f"mixer {spec!r} at d_model={d_model}: {e}") from None
        if not mixers.get(name).causal:
            raise ValueError(f"mixer {name!r} is not causal; the bench trains causal language models")
        kept.append(spec)
    return suite.replace(mixers=tuple(kept))


def load_records(out_dir: str | os.PathLike) -> list[dict]:
    """Complete records in results.jsonl; a partial last line (killed mid-write) is removed from the file."""
    path = Path(out_dir) / RESULTS
    if not path.exists():
        return []
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        data = data[: data.rfind(b"\n") + 1]
        atomic_write_bytes(path, data)
    return [json.loads(line) for line in data.decode().splitlines() if line.strip()]


def train_and_eval(mixer_spec: str, run: TaskRun, d_model: int, seed: int, n_layers: int, test_n: int) -> dict:
    """One bench run: train a LanguageModel with the mixer on the task, evaluate at every test length."""
    mixer, mixer_options = parse_mixer_spec(mixer_spec)
    task_name, task_options = parse_spec(run.spec)
    task = tasks.build(task_name, **task_options)
    torch.manual_seed(seed)
    model = LanguageModel(LMConfig(task.vocab_size, d_model, n_layers, mixer, mixer_options))
    config = TrainConfig(steps=run.steps, lr=run.lr, weight_decay=run.weight_decay, seed=seed,
                         warmup_steps=max(1, run.steps // 10), progress=False, log_every=max(1, run.steps // 10))
    trainer = Trainer(model, config, loss_fn=lm_loss,
                      batch_fn=lambda step: task.make("train", run.batch_size, seed * 1_000_003 + step))
    diverged = None
    start = time.perf_counter()
    try:
        summary = trainer.fit()
    except (FloatingPointError, ValueError) as err:
        # a non-finite loss, or NaN/Inf reaching a mixer's input check: the run diverged. It is recorded with
        # accuracy 0 at every length (a NaN model predicts nothing) and the reason, not allowed to stop the suite.
        if not isinstance(err, FloatingPointError) and "NaN or Inf" not in str(err):
            raise
        diverged = f"step {trainer.step}: {err}"
        summary = {"steps": trainer.step, "final_loss": float("nan"), "train_seconds": time.perf_counter() - start}
    start = time.perf_counter()
    model.eval()
    acc = ({length: 0.0 for length in task.test_lengths()} if diverged
           else task.evaluate(model, test_n, seed))
    return {
        "diverged": diverged,
        "key": run_key(mixer_spec, run.spec, d_model, seed),
        "mixer": mixer_spec, "mixer_name": mixer, "mixer_options": mixer_options,
        "task": run.spec, "task_name": task_name, "task_kind": task.kind, "task_config": _jsonable(task),
        "d_model": d_model, "n_layers": n_layers, "seed": seed,
        "steps": summary["steps"], "lr": run.lr, "weight_decay": run.weight_decay, "batch_size": run.batch_size,
        "test_n": test_n,
        "accuracy": {str(k): v for k, v in acc.items()},
        "state_size": model.state_size, "params": sum(p.numel() for p in model.parameters()),
        "final_loss": summary["final_loss"], "train_seconds": summary["train_seconds"],
        "eval_seconds": time.perf_counter() - start,
        "rnnzoo_version": rnnzoo.__version__, "torch_version": torch.__version__,
        "threads": torch.get_num_threads(), "machine": platform.machine(),
    }


def run_suite(suite: Suite, out_dir: str | os.PathLike, strict: bool = False, progress: bool = True,
              log: Callable[[str], None] = print, shard: tuple[int, int] = (0, 1)) -> list[dict]:
    """Run every missing record of ``suite`` into ``out_dir``; then write leaderboard.md and plots.
    Returns the records of this suite (old and new).

    ``shard=(i, n)`` runs only jobs i, i+n, i+2n, ... of the suite's job list, so n processes started
    with the same ``out_dir`` and shards 0..n-1 split a suite between cores (each record is one
    ``O_APPEND`` write, so their lines never interleave); the report covers every record present."""
    index, count = shard
    if count < 1 or not 0 <= index < count:
        raise ValueError(f"shard must be i/n with 0 <= i < n, got {index}/{count}")
    suite = validate(suite, strict, log)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    done = {r["key"] for r in load_records(out)}
    jobs = [(m, run, d, s) for run in suite.tasks for m in suite.mixers for d in suite.d_models for s in suite.seeds]
    mine = jobs[index::count]
    todo = [j for j in mine if run_key(j[0], j[1].spec, j[2], j[3]) not in done]
    if len(todo) < len(mine):
        log(f"resuming: {len(mine) - len(todo)} of {len(mine)} runs already in {out / RESULTS}")
    bar = tqdm(todo, desc=f"bench {suite.name}", disable=not progress, dynamic_ncols=True, unit="run")
    for mixer_spec, run, d_model, seed in bar:
        bar.set_postfix_str(f"{mixer_spec} on {run.spec.split(':')[0]} d={d_model} seed={seed}")
        record = train_and_eval(mixer_spec, run, d_model, seed, run.n_layers or suite.n_layers, suite.test_n)
        record["suite"] = suite.name
        record["provenance"] = provenance()
        append_jsonl(Path(out) / RESULTS, record)
    bar.close()
    wanted = {run_key(m, run.spec, d, s) for m, run, d, s in jobs}
    records = [r for r in load_records(out) if r["key"] in wanted]
    table = leaderboard(records)
    (out / "leaderboard.md").write_text(table)
    plot_all(records, out)
    return records


def _jsonable(task: tasks.Task) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(task).items()}


def suite_from_args(suite: str = "quick", mixers: str | None = None, tasks: str | None = None,
                    d_models: str | None = None, seeds: str | None = None, steps: int | None = None,
                    n_layers: int | None = None) -> tuple[Suite, bool]:
    """The named suite with command-line overrides; returns (suite, strict) where strict is True when
    the user named the mixers (then unknown names raise instead of being skipped)."""
    base = get_suite(suite)
    changes: dict = {}
    if mixers:
        changes["mixers"] = tuple(split_list(mixers))
    if tasks:
        by_name = {parse_spec(r.spec)[0]: r for r in base.tasks}
        runs = []
        for spec in split_list(tasks):
            name = parse_spec(spec)[0]
            template = by_name.get(name, base.tasks[0])
            runs.append(dataclasses.replace(template, spec=spec))
        changes["tasks"] = tuple(runs)
    if steps:
        changes["tasks"] = tuple(dataclasses.replace(r, steps=steps) for r in changes.get("tasks", base.tasks))
    if d_models:
        changes["d_models"] = tuple(int(d) for d in split_list(d_models))
    if seeds:
        changes["seeds"] = tuple(int(s) for s in split_list(seeds))
    if n_layers:
        changes["n_layers"] = n_layers
        changes["tasks"] = tuple(dataclasses.replace(r, n_layers=None) for r in changes.get("tasks", base.tasks))
    if mixers or tasks or d_models or seeds or steps or n_layers:
        changes["name"] = f"{base.name}+custom"
    return base.replace(**changes), bool(mixers)


def parse_shard(text: str | None) -> tuple[int, int]:
    """"i/n" -> (i, n); None -> (0, 1), the whole suite."""
    if text is None:
        return 0, 1
    try:
        index, count = (int(x) for x in text.split("/"))
    except ValueError:
        raise ValueError(f"--shard must look like i/n, e.g. 0/2, got {text!r}") from None
    if count < 1 or not 0 <= index < count:
        raise ValueError(f"--shard must be i/n with 0 <= i < n, got {text!r}")
    return index, count


def bench_from_args(suite: str = "quick", out: str | None = None, progress: bool = True, shard: str | None = None,
                    **overrides) -> int:
    """What ``rnnzoo bench`` does: run, print the leaderboard and where the files are."""
    chosen, strict = suite_from_args(suite, **overrides)
    part = parse_shard(shard)
    out_dir = Path(out or Path("bench_results") / chosen.name.replace("+", "_"))
    start = time.perf_counter()
    records = run_suite(chosen, out_dir, strict=strict, progress=progress, shard=part)
    print()
    print((out_dir / "leaderboard.md").read_text())
    print(f"{len(records)} runs in {out_dir / RESULTS}  ({time.perf_counter() - start:.0f} s this session)")
    print(f"leaderboard: {out_dir / 'leaderboard.md'}")
    print(f"plots:       {out_dir / 'plots'}/ ({', '.join(sorted(p.name for p in (out_dir / 'plots').glob('*.png')))})")
    return 0
