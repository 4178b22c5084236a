"""A registry mixer's forward + backward with its op in one mode against another (``fast_mode`` set on the
class), timed in turn round by round in one process: what a compiled kernel gives a mixer's training step.

    python benchmarks/mixer_mode_ab.py --mixers rwkv7,comba --modes chunk,auto --T 1024 --rounds 3 \\
        --out results/speed/mixers/mixer_mode_ab_rwkv7_comba.json

Default configs at --d-model, batch --B, one thread; the first round of each mode warms up. Writes one JSON row
per mixer: median seconds per mode and the median of the per-round ratios first mode / second mode.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import torch

from rnnzoo.mixers.registry import build
from rnnzoo.provenance import provenance


def step_seconds(mixer, x) -> float:
    start = time.perf_counter()
    y, _ = mixer(x, mixer.init_state(x.shape[0]))
    y.sum().backward()
    return time.perf_counter() - start


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mixers", default="rwkv7,comba", help="comma-separated registry names")
    parser.add_argument("--modes", default="chunk,auto", help="two op modes: the ratio is first / second")
    parser.add_argument("--T", type=int, default=1024)
    parser.add_argument("--B", type=int, default=8)
    parser.add_argument("--d-model", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("bench_results/mixer_mode_ab.json"))
    args = parser.parse_args(argv)
    modes = args.modes.split(",")
    if len(modes) != 2 or args.rounds < 1:
        parser.error(f"--modes must name two modes and --rounds be >= 1, got {args.modes!r} and {args.rounds}")
    torch.set_num_threads(1)
    rows = []
    for name in args.mixers.split(","):
        torch.manual_seed(0)
        mixer = build(name, args.d_model)
        x = torch.randn(args.B, args.T, args.d_model)
        cls, default = type(mixer), type(mixer).fast_mode
        times = {mode: [] for mode in modes}
        try:
            for _ in range(args.rounds + 1):
                for mode in modes:
                    cls.fast_mode = mode
                    times[mode].append(step_seconds(mixer, x))
        finally:
            cls.fast_mode = default
        ratios = [a / b for a, b in zip(times[modes[0]][1:], times[modes[1]][1:])]
        row = dict(mixer=name, T=args.T, B=args.B, d_model=args.d_model, rounds=args.rounds, load=os.getloadavg()[0],
                   **{f"{mode}_s": statistics.median(times[mode][1:]) for mode in modes},
                   ratio=statistics.median(ratios), ratio_each=ratios)
        rows.append(row)
        print(f"{name:<12} " + "  ".join(f"{mode} {row[f'{mode}_s']:.3f} s" for mode in modes)
              + f"  {modes[0]}/{modes[1]} {row['ratio']:.2f}x ({min(ratios):.2f}-{max(ratios):.2f})", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"rows": rows, "provenance": provenance()}, indent=2))


if __name__ == "__main__":
    main()
