"""The tables of docs/vision.md and docs/dynamics.md: runs appended to JSONL, resumable, then printed.

    nice -n 10 python benchmarks/app_tables.py run digits     # results/vision/digits.jsonl
    nice -n 10 python benchmarks/app_tables.py run reading    # results/vision/reading.jsonl
    nice -n 10 python benchmarks/app_tables.py run moving     # results/vision/moving.jsonl
    nice -n 10 python benchmarks/app_tables.py run dynamics   # results/dynamics/lorenz63.jsonl
    python benchmarks/app_tables.py print digits              # markdown: mean ± std over seeds

Every run is a set of config overrides (``rnnzoo.config_args.override`` leaf names, the same as the CLI flags)
and a seed; a run whose (name, overrides, seed) is already in the JSONL is skipped, so an interrupted table
resumes where it stopped. Each record is the app's results dict (config and provenance included) plus the run
key. One torch thread, so times compare across runs; runs go seed-major (every model's seed 0 first) so that a
partial table still covers every row.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

from rnnzoo.io import read_jsonl

ROOT = Path(__file__).resolve().parent.parent
SEEDS = (0, 1, 2)
MIXERS = ("lstm", "gru", "s4d", "attention")
# the digits table runs a smaller budget than `rnnzoo vision digits`'s defaults, to fit 3 seeds x 10 rows on a
# shared 2-core box: 300 steps, width 32, one block
DIGITS_BUDGET = dict(steps=300, d_model=32, n_layers=1)

TABLES = {
    "digits": ("results/vision/digits.jsonl",
               [(f"{m} {o}", dict(arch="sequential", mixer=m, order=o, **DIGITS_BUDGET))
                for m in MIXERS for o in ("pixel", "permuted")]
               + [("lrcn gru", dict(arch="lrcn", mixer="gru", **DIGITS_BUDGET)),
                  ("plstm2d", dict(arch="plstm2d", **DIGITS_BUDGET)),
                  ("tslstm lstm", dict(arch="tslstm", mixer="lstm", **DIGITS_BUDGET)),
                  ("lightnet2d", dict(arch="lightnet2d", **DIGITS_BUDGET))]),
    # LRCN reading 3 digits shown one after another (4 frames each) and emitting them in order, CTC; width 64,
    # two blocks. At the command's defaults (600 steps, lr 3e-3) CTC stays on its all-blank plateau (the
    # record "lrcn gru, 3 digits"); lr 1e-3 for 1,500 steps leaves it
    "reading": ("results/vision/reading.jsonl",
                [("lrcn gru, 3 digits, lr 1e-3, 1500 steps",
                  dict(arch="lrcn", mixer="gru", clip_digits=3, clip_frames=4, lr=1e-3, steps=1500))]),
    "moving": ("results/vision/moving.jsonl",
               [("convs5", dict(arch="convs5")), ("convlstm", dict(arch="convlstm"))]),
    "dynamics": ("results/dynamics/lorenz63.jsonl",
                 [(f"alpha={a}", dict(system="lorenz63", gtf=a)) for a in (0.3, 0.0, 1.0)]),
}


def _train(table: str, overrides: dict) -> dict:
    from rnnzoo.config_args import override

    if table in ("digits", "reading"):
        from rnnzoo.apps.vision import DigitsConfig, train_digits
        return train_digits(override(DigitsConfig(), **overrides))
    if table == "moving":
        from rnnzoo.apps.vision import MovingConfig, train_moving
        return train_moving(override(MovingConfig(), **overrides))
    from rnnzoo.apps.dynamics import DynamicsConfig, train_dynamics
    return train_dynamics(override(DynamicsConfig(), **overrides))


def records(path: Path) -> list[dict]:
    """The finished runs; a line cut by a killed run is skipped with a warning, and that run is redone."""
    return read_jsonl(path, warn=lambda msg: print(msg, file=sys.stderr))


def run(table: str, seeds: tuple[int, ...]) -> None:
    import torch

    torch.set_num_threads(1)
    rel, runs = TABLES[table]
    path = ROOT / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    done = {(r["run"], r["seed"]) for r in records(path)}
    for seed in seeds:
        for name, overrides in runs:
            if (name, seed) in done:
                continue
            print(f"{table}: {name} seed {seed}", file=sys.stderr, flush=True)
            result = _train(table, {**overrides, "seed": seed, "progress": False})
            with open(path, "a") as f:
                f.write(json.dumps({"run": name, "overrides": overrides, **result}) + "\n")
                f.flush()
                os.fsync(f.fileno())


def _cell(xs: list[float], fmt: str = ".3f") -> str:
    xs = [x for x in xs if x is not None]
    if not xs:
        return "-"
    return f"{statistics.mean(xs):{fmt}} ± {statistics.stdev(xs):{fmt}}" if len(xs) > 1 else f"{xs[0]:{fmt}}"


def render(table: str) -> str:
    rel, runs = TABLES[table]
    by = {}
    for r in records(ROOT / rel):
        by.setdefault(r["run"], []).append(r)
    if table == "digits":
        head = "| model | seeds | test accuracy | params | train s (mean) |\n|---|---|---|---|---|"
        rows = [f"| {n} | {len(rs)} | {_cell([r['test']['acc'] for r in rs])} | {rs[0]['params']:,} | "
                f"{statistics.mean(r['train_seconds'] for r in rs):.0f} |" for n, rs in by.items()]
    elif table == "reading":
        head = ("| model | seeds | clips read exactly | digit error (edit distance / digit) | params | train s (mean) |\n"
                "|---|---|---|---|---|---|")
        rows = [f"| {n} | {len(rs)} | {_cell([r['test']['acc'] for r in rs])} | "
                f"{_cell([r['test']['digit_error'] for r in rs])} | {rs[0]['params']:,} | "
                f"{statistics.mean(r['train_seconds'] for r in rs):.0f} |" for n, rs in by.items()]
    elif table == "moving":
        head = ("| model | seeds | MSE t+1 | MSE t+5 | MSE t+10 | mean MSE | mean SSIM | params | train s (mean) |\n"
                "|---|---|---|---|---|---|---|---|---|")
        rows = [f"| {n} | {len(rs)} | " + " | ".join(_cell([r["test"]["mse"][i] for r in rs], ".4f") for i in (0, 4, 9))
                + f" | {_cell([r['test']['mse_mean'] for r in rs], '.4f')} | {_cell([r['test']['ssim_mean'] for r in rs])}"
                f" | {rs[0]['params']:,} | {statistics.mean(r['train_seconds'] for r in rs):.0f} |" for n, rs in by.items()]
    else:
        head = ("| training | seeds | D_stsp | D_H | grad norm median | grad norm max | final loss | train s (mean) |\n"
                "|---|---|---|---|---|---|---|---|")
        rows = [f"| {n} | {len(rs)} | {_cell([r['test']['d_stsp'] for r in rs], '.2f')} | "
                f"{_cell([r['test']['d_h'] for r in rs])} | {_cell([r['grad_norm']['median'] for r in rs], '.3g')} | "
                f"{_cell([r['grad_norm']['max'] for r in rs], '.3g')} | {_cell([r['final_loss'] for r in rs], '.4f')} | "
                f"{statistics.mean(r['train_seconds'] for r in rs):.0f} |" for n, rs in by.items()]
    return "\n".join([head, *rows])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("run", "print"))
    parser.add_argument("table", choices=sorted(TABLES))
    parser.add_argument("--seeds", default=",".join(map(str, SEEDS)), help="comma-separated seeds (default: 0,1,2)")
    args = parser.parse_args()
    if args.action == "run":
        run(args.table, tuple(int(s) for s in args.seeds.split(",")))
    else:
        print(render(args.table))
