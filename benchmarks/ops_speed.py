"""Speed of every op's modes: forward and forward+backward time, tokens/s, speedup vs the reference.

    python benchmarks/ops_speed.py --T 256,1024,4096 --batch 8 --threads 2
    python benchmarks/ops_speed.py --ops gla,simple_gla --T 4096 --repeats 3
    python benchmarks/ops_speed.py --ops selective_scan --T 4096 --max-seconds 20   # slow references: timed once
    python benchmarks/ops_speed.py --ops ssd,selective_scan --T 4096 --paired 5   # modes in turn, paired ratios
    python benchmarks/ops_speed.py --ops mlstm --modes kernel --T 4096 --paired 3 --threads 1 --roofline

Cases come from benchmarks/cases_<family>.py modules (``cases(batch, seqlen) -> {op: {mode: make}}``,
``make()`` draws inputs and returns the timed call; first mode = reference); a missing family module is skipped.
A family module may also define ``flops(batch, seqlen) -> {op: count}`` (its compiled kernel's forward + backward):
``--roofline`` then adds the kernel rows' GFLOP/s and their fraction of this machine's sgemm peak, measured
first with a large torch.mm on the same threads. Writes JSON to --out.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from rnnzoo.provenance import provenance
from rnnzoo.runtime import keep_freed_memory

FAMILIES = ("cases_linear", "cases_delta", "cases_ssm", "cases_memory", "cases_dplr")


def load_cases(batch: int, seqlen: int) -> dict:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    found = {}
    for family in FAMILIES:
        try:
            module = importlib.import_module(family)
        except ModuleNotFoundError as err:
            if err.name != family:
                raise
            continue
        found.update(module.cases(batch, seqlen))
    return found


def load_flops(batch: int, seqlen: int) -> dict:
    """{op: floating-point operations of its compiled kernel's forward + backward} from the family modules."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    found = {}
    for family in FAMILIES:
        try:
            module = importlib.import_module(family)
        except ModuleNotFoundError:
            continue
        found.update(getattr(module, "flops", lambda b, t: {})(batch, seqlen))
    return found


def sgemm_peak(size: int = 2048, repeats: int = 5) -> float:
    """GFLOP/s of the best of ``repeats`` float32 [size, size] @ [size, size] products on torch's threads."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * size ** 3 / best / 1e9


def run_once(make, backward: bool) -> float:
    """Seconds of one timed call; ``make()`` draws fresh inputs outside the timer and returns the call."""
    run = make()
    with torch.enable_grad() if backward else torch.no_grad():
        start = time.perf_counter()
        out = run()
        if backward:
            out.sum().backward()
        return time.perf_counter() - start


def timed(make, backward: bool, repeats: int, max_seconds: float = float("inf")) -> tuple[float, int]:
    """(median seconds over ``repeats`` runs after one warm-up, number of timed runs). A warm-up slower than
    ``max_seconds`` is taken as the measurement itself (0 further runs), so slow references finish."""
    first = run_once(make, backward)
    if first > max_seconds:
        return first, 0
    return statistics.median(run_once(make, backward) for _ in range(repeats)), repeats


def paired(modes: dict, rounds: int) -> dict[str, list[float]]:
    """Forward + backward seconds of every mode, timed in turn round by round (reference, fast, reference,
    fast, ...) after one warm-up each, so that each round's ratio compares runs taken moments apart on a
    machine whose speed drifts. Returns {mode: [seconds per round]}."""
    for make in modes.values():
        run_once(make, True)
    times = {mode: [] for mode in modes}
    for _ in range(rounds):
        for mode, make in modes.items():
            times[mode].append(run_once(make, True))
    return times


PAIRED_HEADER = f"{'op':<20}{'mode':<12}{'T':>6}{'f+b ms':>10}{'paired x (median)':>19}{'min-max x':>16}"
PLAIN_HEADER = (f"{'op':<20}{'mode':<12}{'T':>6}{'fwd ms':>10}{'fwd tok/s':>12}{'x':>7}"
                f"{'fwd+bwd ms':>12}{'f+b tok/s':>12}{'x':>7}")


def run_paired(cases: dict, args, seqlen: int, rows: list, kept: bool) -> None:
    """Forward + backward of each op's modes in ``args.paired`` rounds (``paired``); ratios per round."""
    print(PAIRED_HEADER)
    batch, threads, rounds = args.batch, args.threads, args.paired
    for op, modes in cases.items():
        times = paired(modes, rounds)
        ref = next(iter(modes))
        for mode, ts in times.items():
            ratios = [r / t for r, t in zip(times[ref], ts)]
            row = dict(op=op, mode=mode, T=seqlen, batch=batch, threads=threads, paired_rounds=rounds,
                       fwd_bwd_s=statistics.median(ts), fwd_bwd_s_each=ts, paired_speedup=statistics.median(ratios),
                       paired_speedup_each=ratios, reference=ref, load=os.getloadavg()[0],
                       keep_freed_memory=kept)
            roofline = ""
            if args.peak and mode == "kernel" and op in args.flops:
                row.update(kernel_gflops=args.flops[op] / row["fwd_bwd_s"] / 1e9, sgemm_gflops=args.peak)
                row["fraction_of_sgemm"] = row["kernel_gflops"] / args.peak
                roofline = f"  {row['kernel_gflops']:.1f} GFLOP/s = {row['fraction_of_sgemm']:.1%} of sgemm"
            rows.append(row)
            print(f"{op:<20}{mode:<12}{seqlen:>6}{row['fwd_bwd_s'] * 1e3:>10.1f}{row['paired_speedup']:>19.1f}"
                  f"{min(ratios):>9.1f}-{max(ratios):<6.1f}{roofline}", flush=True)
            write_json(args.out, {"torch": torch.__version__, "rows": rows, "sgemm_gflops": args.peak or None})


def write_json(path: Path, payload) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump({**payload, "provenance": provenance()}, f, indent=2)
    os.replace(tmp, path)


def run_plain(cases: dict, args, seqlen: int, rows: list, kept: bool) -> None:
    """Forward, then forward + backward, of each mode: the median of ``args.repeats`` runs each."""
    for op, modes in cases.items():
        base = None
        for mode, make in modes.items():
            fwd, fwd_runs = timed(make, False, args.repeats, args.max_seconds)
            both, both_runs = timed(make, True, args.repeats, args.max_seconds)
            base = base or (fwd, both)
            tokens = args.batch * seqlen
            row = dict(op=op, mode=mode, T=seqlen, batch=args.batch, threads=args.threads,
                       fwd_s=fwd, fwd_bwd_s=both, fwd_tokens_per_s=tokens / fwd,
                       fwd_bwd_tokens_per_s=tokens / both, fwd_speedup=base[0] / fwd,
                       fwd_bwd_speedup=base[1] / both, reference=next(iter(modes)),
                       fwd_runs=fwd_runs, fwd_bwd_runs=both_runs, load=os.getloadavg()[0],
                       keep_freed_memory=kept)
            rows.append(row)
            print(f"{op:<20}{mode:<12}{seqlen:>6}{fwd * 1e3:>10.1f}{tokens / fwd:>12.0f}"
                  f"{row['fwd_speedup']:>7.1f}{both * 1e3:>12.1f}{tokens / both:>12.0f}"
                  f"{row['fwd_bwd_speedup']:>7.1f}", flush=True)
            write_json(args.out, {"torch": torch.__version__, "rows": rows})


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--T", default="256,1024,4096", help="comma-separated sequence lengths")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--ops", default="", help="comma-separated op names (default: all)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-seconds", type=float, default=float("inf"),
                        help="per case: if the warm-up run takes longer, report it and skip the repeats")
    parser.add_argument("--glibc-malloc", action="store_true",
                        help="keep glibc's default malloc, which returns large freed blocks to the kernel "
                             "(default: rnnzoo.runtime.keep_freed_memory())")
    parser.add_argument("--paired", type=int, default=0, metavar="ROUNDS",
                        help="forward + backward only, every mode timed in turn for ROUNDS rounds; reports "
                             "the median of the per-round speed-ups (steadier on a noisy machine)")
    parser.add_argument("--modes", default="", help="comma-separated modes to time, the first one the ratios' base "
                        "(default: every mode of each op, its reference first)")
    parser.add_argument("--roofline", action="store_true",
                        help="with --paired: measure the sgemm peak first and report each kernel row's GFLOP/s")
    parser.add_argument("--out", type=Path, default=Path("bench_results/ops_speed.json"),
                        help="JSON rows (default in the git-ignored bench_results/; the committed tables in "
                             "results/speed/ are written with an explicit --out)")
    args = parser.parse_args(argv)
    if args.paired < 0 or args.repeats < 1:
        parser.error(f"--paired must be >= 0 and --repeats >= 1, got {args.paired} and {args.repeats}")
    torch.set_num_threads(args.threads)
    kept = not args.glibc_malloc and keep_freed_memory()
    wanted = [o for o in args.ops.split(",") if o]
    picked = [m for m in args.modes.split(",") if m]
    args.peak = sgemm_peak() if args.roofline else 0.0
    if args.peak:
        print(f"sgemm peak on {args.threads} thread(s): {args.peak:.1f} GFLOP/s")
    rows = []
    if not args.paired:
        print(PLAIN_HEADER)
    for seqlen in (int(t) for t in args.T.split(",")):
        all_cases = load_cases(args.batch, seqlen)
        unknown = set(wanted) - set(all_cases)
        if unknown:
            parser.error(f"unknown ops {sorted(unknown)}; available: {', '.join(sorted(all_cases))}")
        cases = {op: modes for op, modes in all_cases.items() if not wanted or op in wanted}
        if picked:
            cases = {op: {m: modes[m] for m in picked if m in modes} for op, modes in cases.items()}
        args.flops = load_flops(args.batch, seqlen)
        (run_paired if args.paired else run_plain)(cases, args, seqlen, rows, kept)


if __name__ == "__main__":
    main()
