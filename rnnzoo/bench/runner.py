"""Run a suite (mixers x tasks x widths x seeds) into ``out_dir``: results.jsonl, leaderboard.md, plots.

```python
from rnnzoo.bench import get_suite, run_suite
records = run_suite(get_suite("quick"), "bench_results/quick")   # resumes: finished runs are skipped
```

Each finished run appends one complete JSON line to results.jsonl (``rnnzoo.io.append_jsonl``: whole or
not at all). A record's key is a hash of its full run configuration (model with the mixer's resolved config,
task, training budget, seed, test size), so a rerun with other settings trains anew instead of reusing a
stale result; a resumed suite redoes only the runs whose key has no record. Damaged lines are skipped with
a warning, and a key recorded twice (two processes on one folder) counts once.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Callable

import torch
from tqdm.auto import tqdm

import rnnzoo
from rnnzoo import mixers, tasks
from rnnzoo.bench.code_state import code_state, describe, other_code, record_code
from rnnzoo.bench.mad import mad_table
from rnnzoo.bench.progress import RunProgress, watch_loss
from rnnzoo.bench.report import leaderboard, plot_all
from rnnzoo.bench.suites import Suite, TaskRun, get_suite
from rnnzoo.io import append_jsonl, atomic_write_bytes, read_jsonl
from rnnzoo.labels import IGNORE
from rnnzoo.models import LanguageModel, LMConfig
from rnnzoo.models.hybrid import is_hybrid, layer_mixers, parse_hybrid
from rnnzoo.provenance import provenance
from rnnzoo.spec import parse_mixer_spec, parse_spec, split_list
from rnnzoo.train import TrainConfig, Trainer, lm_loss
from rnnzoo.train.device import autocast, check_precision

RESULTS = "results.jsonl"


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


def build_task(spec: str) -> tasks.Task:
    name, options = parse_spec(spec)
    return tasks.build(name, **options)


def train_config(run: TaskRun, seed: int, device: str = "auto", dtype: str = "float32") -> TrainConfig:
    """The trainer settings of one bench run (no files, no bar: the bench reports progress itself)."""
    return TrainConfig(steps=run.steps, lr=run.lr, weight_decay=run.weight_decay, seed=seed,
                       warmup_steps=max(1, run.steps // 10), progress=False, log_every=max(1, run.steps // 10),
                       device=device, dtype=dtype)


def run_config(mixer_spec: str, run: TaskRun, d_model: int, seed: int, n_layers: int, test_n: int,
               dtype: str = "float32") -> dict:
    """Every setting that changes a run's result: the model (with the mixer's resolved config, so spelled-out
    defaults hash alike), the task's full config, the trainer's config (with the dtype: bfloat16 changes
    results), the batch size and the test size. Not the device: a run on CPU and on a GPU differ only by float
    rounding, so either one's record serves (each record names its device)."""
    mixer, options = parse_mixer_spec(mixer_spec)
    task = build_task(run.spec)
    model = dataclasses.asdict(LMConfig(task.vocab_size, d_model, n_layers, mixer, options))
    del model["mixer_options"]  # as given; the resolved mixer config below holds them with the defaults
    extra = {} if task.backbone == "lm" else {"backbone": task.backbone}  # keys of LanguageModel runs unchanged
    layers = parse_hybrid(mixer) if is_hybrid(mixer) else [(mixer, options)]
    mixer_config = [dataclasses.asdict(mixers.make_config(name, d_model, **o)) for name, o in layers]
    return {**extra, "model": model, "mixer_config": mixer_config if is_hybrid(mixer) else mixer_config[0],
            "task": {"name": parse_spec(run.spec)[0], **_jsonable(task)},
            "train": {k: v for k, v in dataclasses.asdict(train_config(run, seed, "cpu", dtype)).items()
                      if k != "device"},
            "batch_size": run.batch_size, "test_n": test_n}


def run_key(config: dict) -> str:
    """A hash of ``run_config``: equal keys mean equal settings, however the specs were spelled."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:20]


def validate(suite: Suite, strict: bool, log: Callable[[str], None] = print) -> Suite:
    """Check every spec before any training: each task builds, and each mixer builds at each of the suite's
    widths. Unknown task names always raise; unknown mixer names raise when ``strict`` (user-given lists)
    and are skipped with a printed note otherwise (suite entries for mixers that land later). An empty mixer
    list means every causal registered mixer. A hybrid stack's pattern must divide every run's ``n_layers``, and its tasks
    must use the language-model backbone (a MAD backbone takes one mixer)."""
    backbones = set()
    for run in suite.tasks:
        name, options = parse_spec(run.spec)
        backbones.add(tasks.build(name, **options).backbone)
    specs = suite.mixers or tuple(n for n in mixers.names() if mixers.get(n).causal)
    kept = []
    for spec in specs:
        if is_hybrid(spec):
            for n_layers in {run.n_layers or suite.n_layers for run in suite.tasks}:
                layer_mixers(spec, n_layers)
            if backbones - {"lm"}:
                raise ValueError(f"mixer {spec!r}: hybrid stacks run on language-model tasks; these tasks use the "
                                 f"{', '.join(sorted(backbones - {'lm'}))} backbone")
        elif parse_spec(spec)[0] not in mixers.names() and not strict:
            log(f"note: skipping mixer {spec!r}: not registered in this install "
                f"(registered: {', '.join(mixers.names())})")
            continue
        for name, options in parse_hybrid(spec) if is_hybrid(spec) else [parse_mixer_spec(spec)]:
            for d_model in suite.d_models:  # unknown names/options raise ValueError listing valid ones
                try:
                    mixers.make_config(name, d_model, **options)
                except ValueError as e:
                    raise ValueError(f"mixer {spec!r} at d_model={d_model}: {e}") from None
            if not mixers.get(name).causal:
                raise ValueError(f"mixer {name!r} is not causal; the bench trains causal language models")
        kept.append(spec)
    return suite.replace(mixers=tuple(kept))


def load_records(out_dir: str | os.PathLike, warn: Callable[[str], None] = _stderr) -> list[dict]:
    """The records in out_dir/results.jsonl, one per key (the first written); damaged lines are skipped and
    reported through ``warn`` with file and line number."""
    seen, records = set(), []
    for record in read_jsonl(Path(out_dir) / RESULTS, warn):
        if "key" in record and record["key"] not in seen:
            seen.add(record["key"])
            records.append(record)
    return records


def _refuse_mixed_budgets(out: Path, records: list[dict], planned: dict[tuple, str], overwrite: bool) -> list[dict]:
    """Refuse (or, with ``overwrite``, drop from ``out`` and from the returned list) the ``records`` of a planned
    run (mixer, task, d_model, seed) whose key differs: the same run under other settings (steps, lr, ...)."""
    clash = [r for r in records if planned.get((r.get("mixer"), r.get("task"), r.get("d_model"), r.get("seed")),
                                                r.get("key")) != r.get("key")]
    if not clash:
        return records
    if not overwrite:
        r = clash[0]
        raise ValueError(f"{out / RESULTS} holds {len(clash)} record(s) of these runs under other settings (e.g. "
                         f"{r['mixer']} on {r['task']}: steps {r.get('steps')}, lr {r.get('lr')}, layers "
                         f"{r.get('n_layers')}); use another --out, or --overwrite to replace them")
    keep = [r for r in records if r not in clash]
    atomic_write_bytes(out / RESULTS, "".join(json.dumps(r, sort_keys=True) + "\n" for r in keep).encode())
    return keep


def _refuse_other_code(out: Path, records: list[dict], code: dict, overwrite: bool, allow: bool) -> list[dict]:
    """Refuse to add runs of this ``code`` to ``records`` made by other code; ``overwrite`` drops those records
    (from ``out`` too), ``allow`` keeps them."""
    stale = other_code(records, code)
    if not stale or allow:
        return records
    if not overwrite:
        raise ValueError(f"{out / RESULTS} holds {len(stale)} record(s) made by other code ({describe(record_code(stale[0]))}"
                         f"; this checkout: {describe(code)}); use another --out, --overwrite to drop them, or "
                         "--allow-code-change to add runs beside them")
    keep = [r for r in records if r not in stale]
    atomic_write_bytes(out / RESULTS, "".join(json.dumps(r, sort_keys=True) + "\n" for r in keep).encode())
    return keep


def chance_level(task: tasks.Task) -> float:
    """Accuracy of guessing uniformly among the answers the task asks for: the task's own ``chance()`` where
    it defines one, else one over its distinct labelled targets."""
    if task.chance() is not None:
        return task.chance()
    _, targets = task.make("test", 256, 0)
    return 1.0 / targets[targets != IGNORE].unique().numel()


def build_model(task: tasks.Task, d_model: int, n_layers: int, mixer: str, mixer_options: dict) -> torch.nn.Module:
    """The task's backbone: a ``LanguageModel`` of ``n_layers`` blocks, or a MAD backbone of ``n_layers`` mixer
    layers each followed by SwiGLU (``rnnzoo.bench.mad_model``)."""
    if task.backbone == "lm":
        return LanguageModel(LMConfig(task.vocab_size, d_model, n_layers, mixer, mixer_options))
    from rnnzoo.bench.mad_model import BACKBONES

    return BACKBONES[task.backbone](task.vocab_size, d_model, mixer, mixer_options, n_layers)


def train_and_eval(mixer_spec: str, run: TaskRun, d_model: int, seed: int, n_layers: int, test_n: int,
                   progress: RunProgress | None = None, device: str = "auto", dtype: str = "float32") -> dict:
    """One bench run: train a LanguageModel with the mixer on the task, evaluate at every test length.
    ``progress`` is told the loss of every step; ``device``, ``dtype``: as ``TrainConfig``'s."""
    mixer, mixer_options = parse_mixer_spec(mixer_spec)
    task_name = parse_spec(run.spec)[0]
    task = build_task(run.spec)
    config = run_config(mixer_spec, run, d_model, seed, n_layers, test_n, dtype)
    torch.manual_seed(seed)
    model = build_model(task, d_model, n_layers, mixer, mixer_options)
    loss_fn = lm_loss if progress is None else watch_loss(lm_loss, progress.step)
    trainer = Trainer(model, train_config(run, seed, device, dtype), loss_fn=loss_fn,
                      batch_fn=lambda step: task.make("train", run.batch_size, seed * 1_000_003 + step))
    diverged = None
    wall0, cpu0 = time.perf_counter(), time.process_time()
    start = wall0
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
    with torch.no_grad(), autocast(trainer.device, dtype):
        acc = ({length: 0.0 for length in task.test_lengths()} if diverged
               else task.evaluate(lambda x: model(x.to(trainer.device)).cpu(), test_n, seed))
    trainer.close()  # leaves the process group under torchrun, once the model is no longer used
    return {
        "diverged": diverged,
        "key": run_key(config), "config": config,
        "mixer": mixer_spec, "mixer_name": mixer, "mixer_options": mixer_options,
        "task": run.spec, "task_name": task_name, "task_kind": task.kind, "task_config": _jsonable(task),
        "chance": chance_level(task), "train_length": task.seq_len,
        "d_model": d_model, "n_layers": n_layers, "seed": seed,
        "steps": summary["steps"], "planned_steps": run.steps, "lr": run.lr, "weight_decay": run.weight_decay,
        "batch_size": run.batch_size, "test_n": test_n,
        "accuracy": {str(k): v for k, v in acc.items()}, "headline": task.headline(acc),
        "state_size": model.state_size, "params": sum(p.numel() for p in model.parameters()),
        "final_loss": summary["final_loss"], "train_seconds": summary["train_seconds"],
        "eval_seconds": time.perf_counter() - start,
        "wall_seconds": time.perf_counter() - wall0, "cpu_seconds": time.process_time() - cpu0,
        "rnnzoo_version": rnnzoo.__version__, "torch_version": torch.__version__,
        "threads": torch.get_num_threads(), "machine": platform.machine(),
        "device": str(trainer.device), "dtype": dtype,
    }


def run_suite(suite: Suite, out_dir: str | os.PathLike, strict: bool = False, progress: bool = True,
              log: Callable[[str], None] = print, shard: tuple[int, int] = (0, 1), device: str = "auto",
              dtype: str = "float32", overwrite: bool = False, allow_code_change: bool = False) -> list[dict]:
    """Run every missing record of ``suite`` into ``out_dir``; then write leaderboard.md and plots.
    Returns the records of this suite (old and new).

    ``progress``: bars (suite and steps with loss inside each run); False: plain ``log`` lines instead.
    ``shard=(i, n)`` runs only jobs i, i+n, i+2n, ... of the suite's job list, so n processes started
    with the same ``out_dir`` and shards 0..n-1 split a suite between cores (each record is one
    ``O_APPEND`` write, so their lines never interleave); the report covers every record present.
    ``device``, ``dtype``: as ``TrainConfig``'s; the dtype is part of a run's key, the device is not.
    A folder holding records of the same runs (mixer, task, d_model, seed) under other settings is refused,
    since its leaderboard would mix budgets; ``overwrite`` drops those records first. Likewise a folder holding
    records made by other code (another commit, or other uncommitted edits: ``code_state``) is refused when
    there are runs left to do; ``overwrite`` drops those records, ``allow_code_change`` keeps them and adds
    the new ones beside them (each record names its code)."""
    check_precision(device, dtype)
    index, count = shard
    if count < 1 or not 0 <= index < count:
        raise ValueError(f"shard must be i/n with 0 <= i < n, got {index}/{count}")
    suite = validate(suite, strict, log)
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OSError(e.errno, f"cannot create the output directory {out}: {e.strerror}") from None
    jobs = [(m, run, d, s, run.n_layers or suite.n_layers)
            for run in suite.tasks for m in suite.mixers for d in suite.d_models for s in suite.seeds]
    keys = [run_key(run_config(m, run, d, s, layers, suite.test_n, dtype)) for m, run, d, s, layers in jobs]
    planned = {(m, run.spec, d, s): k for (m, run, d, s, _), k in zip(jobs, keys)}
    records = _refuse_mixed_budgets(out, load_records(out), planned, overwrite)
    mine = list(zip(jobs, keys))[index::count]
    code = code_state()
    if any(key not in {r["key"] for r in records} for _, key in mine):
        records = _refuse_other_code(out, records, code, overwrite, allow_code_change)
    done = {r["key"] for r in records}
    todo = [(job, key) for job, key in mine if key not in done]
    if len(todo) < len(mine):
        log(f"resuming: {len(mine) - len(todo)} of {len(mine)} runs already in {out / RESULTS}")
    bar = tqdm(total=len(todo), desc=f"bench {suite.name}", disable=not progress, dynamic_ncols=True, unit="run")
    try:
        for i, ((mixer_spec, run, d_model, seed, layers), key) in enumerate(todo):
            if i and key in {r["key"] for r in load_records(out, warn=lambda msg: None)}:
                bar.update(1)  # another process sharing out_dir finished it meanwhile
                continue
            label = f"[{i + 1}/{len(todo)}] {mixer_spec} on {run.spec.split(':')[0]} d={d_model} seed={seed}"
            watch = RunProgress(label, run.steps, bar=progress, log=log)
            try:
                record = train_and_eval(mixer_spec, run, d_model, seed, layers, suite.test_n, watch, device, dtype)
            except BaseException:
                watch.close("stopped")
                raise
            accs = ", ".join(f"acc@{k} {v:.3f}" for k, v in record["accuracy"].items())
            watch.close(f"done, loss {record['final_loss']:.4f}, {accs}")
            record["suite"] = suite.name
            record["provenance"] = provenance()
            record["code"] = code
            append_jsonl(out / RESULTS, record)
            bar.update(1)
    finally:
        bar.close()
    wanted = set(keys)
    records = [r for r in load_records(out) if r["key"] in wanted]
    table = leaderboard(records)
    (out / "leaderboard.md").write_text(table)
    mad = mad_table(records)
    if mad is not None:
        (out / "mad.md").write_text(mad)
    plot_all(records, out)
    return records


def _jsonable(task: tasks.Task) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(task).items()}


def _int_list(flag: str, text: str, minimum: int) -> tuple[int, ...]:
    try:
        values = tuple(int(x) for x in split_list(text))
    except ValueError:
        values = ()
    if not values or min(values) < minimum:
        raise ValueError(f"{flag} expects comma-separated integers >= {minimum}, e.g. {minimum},{minimum + 1}; "
                         f"got {text!r}")
    return values


def _check(flag: str, value, ok: bool, expected: str) -> None:
    if not ok:
        raise ValueError(f"{flag} must be {expected}, got {value!r}")


def suite_from_args(suite: str = "quick", mixers: str | None = None, tasks: str | None = None,
                    d_models: str | None = None, seeds: str | None = None, steps: int | None = None,
                    n_layers: int | None = None, lr: float | None = None,
                    batch_size: int | None = None) -> tuple[Suite, bool]:
    """The named suite with command-line overrides (None: the suite's; 0 is a value, and refused where it is
    invalid); returns (suite, strict) where strict is True when the user named the mixers (then unknown names
    raise instead of being skipped). Errors name the ``rnnzoo bench`` flag."""
    base = get_suite(suite)
    changes: dict = {}
    runs = base.tasks
    if mixers is not None:
        changes["mixers"] = tuple(split_list(mixers))
        _check("--mixers", mixers, bool(changes["mixers"]), "one or more comma-separated mixer specs")
    if tasks is not None:
        by_name = {parse_spec(r.spec)[0]: r for r in base.tasks}
        runs = tuple(dataclasses.replace(by_name.get(parse_spec(spec)[0], base.tasks[0]), spec=spec)
                     for spec in split_list(tasks))
        _check("--tasks", tasks, bool(runs), "one or more comma-separated task specs")
    if steps is not None:
        _check("--steps", steps, isinstance(steps, int) and steps >= 1, "an integer >= 1")
        runs = tuple(dataclasses.replace(r, steps=steps) for r in runs)
    if lr is not None:
        _check("--lr", lr, isinstance(lr, (int, float)) and 0 < lr < float("inf"), "a positive number")
        runs = tuple(dataclasses.replace(r, lr=lr) for r in runs)
    if batch_size is not None:
        _check("--batch-size", batch_size, isinstance(batch_size, int) and batch_size >= 1, "an integer >= 1")
        runs = tuple(dataclasses.replace(r, batch_size=batch_size) for r in runs)
    if n_layers is not None:
        _check("--layers", n_layers, isinstance(n_layers, int) and n_layers >= 1, "an integer >= 1")
        changes["n_layers"] = n_layers
        runs = tuple(dataclasses.replace(r, n_layers=None) for r in runs)
    if d_models is not None:
        changes["d_models"] = _int_list("--d-model", d_models, 1)
    if seeds is not None:
        changes["seeds"] = _int_list("--seeds", seeds, 0)
    if runs != base.tasks:
        changes["tasks"] = runs
    if changes:
        changes["name"] = f"{base.name}+custom"
    return base.replace(**changes), mixers is not None


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
                    threads: int | None = None, device: str = "auto", dtype: str = "float32", overwrite: bool = False,
                    allow_code_change: bool = False, **overrides) -> int:
    """What ``rnnzoo bench`` does: run, print the leaderboard and where the files are. Returns the exit status:
    0, or 130 after Ctrl-C (with one line saying how to resume). ``threads``: torch threads for this process
    (None: ``rnnzoo.runtime.BENCH_THREADS``)."""
    from rnnzoo.runtime import BENCH_THREADS, set_threads

    chosen, strict = suite_from_args(suite, **overrides)
    part = parse_shard(shard)
    set_threads(BENCH_THREADS if threads is None else threads)
    out_dir = Path(out or Path("bench_results") / chosen.name.replace("+", "_"))
    start = time.perf_counter()
    try:
        records = run_suite(chosen, out_dir, strict=strict, progress=progress, shard=part, device=device,
                            dtype=dtype, overwrite=overwrite, allow_code_change=allow_code_change)
    except KeyboardInterrupt:
        kept = len(load_records(out_dir, warn=lambda msg: None))
        _stderr(f"\nrnnzoo bench: interrupted; {kept} finished runs are kept in {out_dir / RESULTS}; "
                f"run the same command again (same --out {out_dir}) to resume")
        return 130
    print()
    print((out_dir / "leaderboard.md").read_text())
    print(f"{len(records)} runs in {out_dir / RESULTS}  ({time.perf_counter() - start:.0f} s this session, "
          f"{torch.get_num_threads()} torch threads)")
    print(f"leaderboard: {out_dir / 'leaderboard.md'}")
    print(f"plots:       {out_dir / 'plots'}/ ({', '.join(sorted(p.name for p in (out_dir / 'plots').glob('*.png')))})")
    return 0
