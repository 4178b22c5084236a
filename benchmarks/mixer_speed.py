"""Speed of registry mixers: the fast forward ``mixer(x)`` against its step-by-step reference, a loop of
``mixer.step`` over T (the baseline, named in every row): forward only under torch.no_grad, or with
``--backward`` forward + backward of the output's sum (gradients of x and of every parameter).

    python benchmarks/mixer_speed.py --mixers mingru,minlstm,rglru,lmu --T 4096 --B 8 --d-model 256 --threads 1
    python benchmarks/mixer_speed.py --mixers mamba --T 1024 --repeats 5 --backward --out bench_results/mamba.json

Each time is the median of --repeats runs after one warm-up call; the step loop is timed --step-repeats
times (default 1: it is the slow side) after --step-warmups untimed loops (default 1; 0 where a loop takes
minutes: its first steps warm it up). Runs under ``rnnzoo.runtime.keep_freed_memory()``, as ops_speed.py:
with glibc's default malloc a step loop's many large temporaries fragment the heap. Prints a table and
writes JSON rows with the provenance (commit, torch, machine, threads, shapes) to --out.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import time
from pathlib import Path

import torch

from rnnzoo import mixers
from rnnzoo.runtime import keep_freed_memory


def median_seconds(fn, repeats: int, warmups: int = 1) -> float:
    """Median wall time of fn() over ``repeats`` calls after ``warmups`` untimed calls."""
    for _ in range(warmups):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def step_loop(mixer, x: torch.Tensor) -> torch.Tensor:
    """The reference: mixer.step over every token from the zero state. x: [B, T, d] -> y: [B, T, d]."""
    state = mixer.init_state(x.shape[0], dtype=x.dtype)
    ys = []
    for x_t in x.unbind(1):
        y_t, state = mixer.step(x_t, state)
        ys.append(y_t)
    return torch.stack(ys, 1)


def no_grad(fn):
    """fn() under torch.no_grad: the forward pass alone."""
    def run():
        with torch.no_grad():
            fn()
    return run


def with_backward(fn):
    """fn().sum().backward(): the forward pass, then the gradients of x and of every parameter."""
    def run():
        fn().sum().backward()
    return run


def measure(name: str, T: int, B: int, d_model: int, repeats: int, step_repeats: int, backward: bool = False,
            step_warmups: int = 1, seed: int = 0) -> dict:
    """One row: seconds of the fast forward and of the step loop of mixer ``name`` (config defaults) on
    x [B, T, d_model]; with ``backward``, each time includes the backward pass of the output's sum."""
    torch.manual_seed(seed)
    mixer = mixers.build(name, d_model).eval()
    x = torch.randn(B, T, d_model, requires_grad=backward)
    timed = with_backward if backward else no_grad
    fast = median_seconds(timed(lambda: mixer(x)[0]), repeats)
    step = median_seconds(timed(lambda: step_loop(mixer, x)), step_repeats, step_warmups)
    return {"mixer": name, "fast_path": type(mixer).fast_path, "baseline": "step loop",
            "pass": "forward+backward" if backward else "forward",
            "fast_s": fast, "step_loop_s": step, "speedup": step / fast,
            "fast_tokens_per_s": B * T / fast}


def provenance(args, kept: bool) -> dict:
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                                cwd=Path(__file__).resolve().parent, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return {"commit": commit, "torch": torch.__version__, "python": platform.python_version(),
            "machine": platform.platform(), "processor": platform.processor(), "threads": torch.get_num_threads(),
            "T": args.T, "B": args.B, "d_model": args.d_model, "repeats": args.repeats,
            "step_repeats": args.step_repeats, "step_warmups": args.step_warmups, "backward": args.backward,
            "keep_freed_memory": kept}


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mixers", default="mingru,minlstm,rglru,lmu", help="comma-separated registry names")
    parser.add_argument("--T", type=int, default=4096)
    parser.add_argument("--B", type=int, default=8)
    parser.add_argument("--d-model", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3, help="timed fast forwards per mixer (median)")
    parser.add_argument("--step-repeats", type=int, default=1, help="timed step loops per mixer (median)")
    parser.add_argument("--step-warmups", type=int, default=1, help="untimed step loops before the timed ones")
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    parser.add_argument("--backward", action="store_true",
                        help="time forward + backward of the output's sum (default: forward under no_grad)")
    parser.add_argument("--out", type=Path, default=Path("bench_results/mixer_speed.json"),
                        help="JSON rows (default in the git-ignored bench_results/)")
    args = parser.parse_args(argv)
    names = [n for n in args.mixers.split(",") if n]
    unknown = [n for n in names if n not in mixers.names()]
    if unknown:
        parser.error(f"unknown mixer(s) {unknown}; valid names: {', '.join(mixers.names())}")
    if not names:
        parser.error("--mixers names no mixer")
    for flag in ("T", "B", "d_model", "repeats", "step_repeats", "threads"):
        if getattr(args, flag) < 1:
            parser.error(f"--{flag.replace('_', '-')} must be >= 1, got {getattr(args, flag)}")
    if args.step_warmups < 0:
        parser.error(f"--step-warmups must be >= 0, got {args.step_warmups}")
    if any(not mixers.get(n).causal for n in names):
        parser.error("non-causal mixers have no step loop to compare against")
    torch.set_num_threads(args.threads)
    kept = keep_freed_memory()
    rows = []
    print(f"{'mixer':<18} {'fast s':>10} {'step loop s':>12} {'speedup':>8}  fast path")
    for name in names:
        row = measure(name, args.T, args.B, args.d_model, args.repeats, args.step_repeats, args.backward,
                      args.step_warmups)
        rows.append(row)
        print(f"{name:<18} {row['fast_s']:>10.4f} {row['step_loop_s']:>12.4f} {row['speedup']:>7.1f}x  "
              f"{row['fast_path']}", flush=True)
        # rewritten after every mixer, so that a run stopped part-way keeps its finished rows
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"provenance": provenance(args, kept), "rows": rows}, indent=2))
    return rows


if __name__ == "__main__":
    main()
