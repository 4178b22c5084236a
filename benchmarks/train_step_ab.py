"""Paired before/after of a training step across versions of the code: each git revision is exported (``git
archive``) into a temporary directory, and each (mixer, revision, round) runs one training step of the same language
model as ``train_speed.py`` (forward, cross-entropy, backward, AdamW) in a fresh process on that revision's code,
the revisions' order rotating from round to round so that drift in the machine's speed hits them alike.

    python benchmarks/train_step_ab.py --revs f18cdf0,HEAD --mixers retnet,gated_deltanet --T 1024 --rounds 3

Each process times ``--steps`` steps after one untimed one, one torch thread, kept memory (``keep_freed_memory``),
and reports the fastest step's wall and CPU seconds (``time.process_time``: on a shared machine the CPU time of a
one-thread step moves far less than its wall time). The table gives per revision the median CPU seconds and the
median over rounds of the CPU-time ratio to the previous revision (the speed-up of that change), with its min-max.
Rows are appended to --out (JSONL, with provenance).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from rnnzoo.io import append_jsonl
from rnnzoo.provenance import provenance

WORKER = r'''
import json, sys, time
import torch
root, name, t, steps, b, d, layers = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:8])
sys.path.insert(0, root + "/benchmarks")
import rnnzoo
import train_speed as ts
from rnnzoo.runtime import keep_freed_memory
assert rnnzoo.__file__.startswith(root), f"imported {rnnzoo.__file__}, not the revision's code under {root}"
torch.set_num_threads(1)
keep_freed_memory()
torch.manual_seed(0)
tokens = torch.randint(0, ts.VOCAB, (b, t + 1))
model = ts.build(name, d, layers, t)
opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
ts.step_seconds(model, opt, tokens)
walls, cpus = [], []
for _ in range(steps):
    c = time.process_time()
    walls.append(ts.step_seconds(model, opt, tokens))
    cpus.append(time.process_time() - c)
print(json.dumps({"wall": min(walls), "cpu": min(cpus)}))
'''


def export(rev: str, into: Path) -> Path:
    """The tree of git revision ``rev`` written under ``into``; raises naming the revision if git cannot."""
    root = into / rev.replace("/", "_")
    root.mkdir()
    archive = subprocess.run(["git", "archive", rev], capture_output=True)
    if archive.returncode:
        raise SystemExit(f"train_step_ab: git cannot export revision {rev!r}: {archive.stderr.decode().strip()}")
    subprocess.run(["tar", "-x", "-C", str(root)], input=archive.stdout, check=True)
    return root


def run(root: Path, name: str, args) -> dict:
    """One timed process on the code under root (run there, so that its rnnzoo is the one imported)."""
    env = {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-c", WORKER, str(root), name, *map(str, (args.T, args.steps, args.B, args.d_model,
                                                                     args.layers))]
    out = subprocess.run(cmd, env=env, cwd=root, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"train_step_ab: {name} on {root.name} failed: {out.stderr.strip().splitlines()[-1:]}")
    return {**json.loads(out.stdout.strip().splitlines()[-1]), "load": os.getloadavg()[0]}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--revs", required=True, help="git revisions, oldest first (e.g. f18cdf0,HEAD)")
    p.add_argument("--mixers", required=True, help="rnnzoo registry mixers, or nanogpt")
    p.add_argument("--T", type=int, default=1024)
    p.add_argument("--B", type=int, default=8)
    p.add_argument("--d-model", type=int, default=256)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=2, help="timed steps per process (the fastest is kept)")
    p.add_argument("--out", type=Path, default=Path("results/speed/train/train_step_ab.jsonl"))
    args = p.parse_args(argv)
    revs, names = args.revs.split(","), args.mixers.split(",")
    if len(revs) < 2 or min(args.T, args.B, args.rounds, args.steps) < 1:
        p.error("--revs needs two revisions or more; --T, --B, --rounds and --steps must be positive")
    stamp = provenance()
    with tempfile.TemporaryDirectory(prefix="rnnzoo-ab-") as tmp:
        roots = [export(rev, Path(tmp)) for rev in revs]
        res = {n: [[] for _ in revs] for n in names}
        for r in range(args.rounds):
            for n in names:
                for j in [(r + k) % len(revs) for k in range(len(revs))]:
                    res[n][j].append(run(roots[j], n, args))
                print(f"round {r} {n}: " + ", ".join(f"{rev} {res[n][j][-1]['cpu']:.3f} s" for j, rev in
                                                      enumerate(revs)), flush=True)
    print("| mixer | revision | CPU s/step | wall s/step | speed-up vs previous (min-max) | load |\n"
          "|---|---|---:|---:|---:|---:|")
    for n in names:
        for j, rev in enumerate(revs):
            cpu = [x["cpu"] for x in res[n][j]]
            ratios = [a["cpu"] / b["cpu"] for a, b in zip(res[n][j - 1], res[n][j])] if j else [1.0] * len(cpu)
            loads = [x["load"] for x in res[n][j]]
            row = {"mixer": n, "revision": rev, "previous": revs[j - 1] if j else None, "T": args.T, "B": args.B,
                   "d_model": args.d_model, "layers": args.layers, "runs": res[n][j], "speedup_vs_previous": ratios,
                   "provenance": stamp}
            append_jsonl(args.out, row)
            print(f"| {n} | {rev} | {statistics.median(cpu):.3f} | {statistics.median(x['wall'] for x in res[n][j]):.3f}"
                  f" | {statistics.median(ratios):.3f}x ({min(ratios):.3f}-{max(ratios):.3f}) | "
                  f"{min(loads):.1f}-{max(loads):.1f} |", flush=True)


if __name__ == "__main__":
    main()
