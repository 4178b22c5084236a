"""Sequence parallelism on this machine: LASP-2 (one all-gather of chunk states) against the ring-style
LASP-1 baseline (point-to-point passing of the prefix state, rank after rank), for one ``gla`` layer
(d_model 64, 4 heads, batch 1) on T tokens split over P processes (gloo, loopback).

    python benchmarks/sequence_parallel.py --lengths 16384 32768 65536 --procs 1 2 4 --out results/sp.jsonl

Each (T, P, method) row is one ``torchrun --standalone --nproc-per-node P`` run of this file (worker mode):
a warm-up step, then ``--steps`` timed forward+backward steps. Per row: seconds per step (slowest rank),
peak memory per process (the largest rise of any rank's max RSS over its level before the first step, after
a short call that loads what a first call imports),
and bytes each rank received per step, counted at the collectives, next to the formula:
LASP-2 all-gathers (P-1) x (T_r and b_r, 2 state sizes) forward and (P-1) x (a state's gradient) backward;
the ring: one state forward and one gradient backward (the end ranks only one of them). Rows are appended (resumable: a row
already in ``--out`` is skipped) with provenance. Threads: 1 per process (``OMP_NUM_THREADS=1``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist

from rnnzoo.io import read_jsonl

D_MODEL, HEADS, BATCH = 64, 4, 1


class _Ring(torch.autograd.Function):
    """LASP-1: the prefix state passed rank to rank (diagonal transitions); backward passes gradients back."""

    @staticmethod
    def forward(ctx, group, kinds, *tensors):
        n = len(kinds)
        inits, transitions, contributions = tensors[:n], tensors[n:2 * n], tensors[2 * n:]
        rank, world = dist.get_rank(), dist.get_world_size()
        prefix = [t.clone() for t in inits]
        if rank > 0:
            for p in prefix:
                dist.recv(p, rank - 1)
        if rank < world - 1:
            for t, p, b in zip(transitions, prefix, contributions):
                dist.send((t * p + b).contiguous(), rank + 1)
        ctx.save_for_backward(*transitions, *prefix)
        return tuple(prefix)

    @staticmethod
    def backward(ctx, *grads):
        n = len(grads)
        transitions, prefix = ctx.saved_tensors[:n], ctx.saved_tensors[n:]
        rank, world = dist.get_rank(), dist.get_world_size()
        lam_next = [torch.zeros_like(g) for g in grads]  # lambda_{r+1}
        if rank < world - 1:
            for lam in lam_next:
                dist.recv(lam, rank + 1)
        lam = [g + t * ln for g, t, ln in zip(grads, transitions, lam_next)]
        if rank > 0:
            for x in lam:
                dist.send(x.contiguous(), rank - 1)
        d_init = lam if rank == 0 else [torch.zeros_like(g) for g in grads]
        return (None, None, *d_init, *[ln * p for ln, p in zip(lam_next, prefix)], *lam_next)


def _ring_prefix(inits, transitions, contributions, kinds, group=None):
    return list(_Ring.apply(group, tuple(kinds), *inits, *transitions, *contributions))


def _count_bytes(received: list[int]) -> None:
    """Wrap the collectives the library and the baseline call so each adds the bytes this rank receives."""
    import rnnzoo.distributed.collectives as coll

    gather, reduce, recv = coll._all_gather_single, dist.all_reduce, dist.recv

    def counted_gather(out, x, group=None, **kw):
        received[0] += (out.numel() - x.numel()) * out.element_size()
        return gather(out, x, group=group, **kw)

    def counted_reduce(x, *a, **kw):  # ring all-reduce: 2 (P-1)/P of the tensor
        p = dist.get_world_size(kw.get("group"))
        received[0] += 2 * (p - 1) * x.numel() * x.element_size() // p
        return reduce(x, *a, **kw)

    def counted_recv(x, *a, **kw):
        received[0] += x.numel() * x.element_size()
        return recv(x, *a, **kw)

    coll._all_gather_single, dist.all_reduce, dist.recv = counted_gather, counted_reduce, counted_recv


def worker(length: int, method: str, steps: int, out: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    import rnnzoo.distributed.lasp as lasp
    from rnnzoo import mixers
    from rnnzoo.distributed import local_chunk, sequence_parallel_forward

    if method == "ring":
        lasp.prefix_states = _ring_prefix
    received = [0]
    _count_bytes(received)
    torch.manual_seed(0)
    mixer = mixers.build("gla", D_MODEL, num_heads=HEADS)
    x = local_chunk(torch.randn(BATCH, length, D_MODEL), None)
    world = dist.get_world_size()
    state_bytes = sum(t.numel() * t.element_size() for t in mixer.init_state(BATCH))

    def step(x):
        y = sequence_parallel_forward(mixer, x, None)[0] if world > 1 else mixer(x)[0]
        y.square().mean().backward()

    # a first call imports what it needs once (torch.utils.checkpoint loads torch._dynamo, about 74 MiB): not
    # memory a step holds, so it is loaded by a short call before the baseline
    step(local_chunk(torch.randn(BATCH, 64 * world, D_MODEL), None))
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    step(x)  # warm-up
    dist.barrier()
    received[0] = 0
    start = time.perf_counter()
    for _ in range(steps):
        step(x)
    seconds = (time.perf_counter() - start) / steps
    peak_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024
    row = torch.tensor([seconds, peak_mib, received[0] / steps], dtype=torch.float64)
    rows = [torch.zeros_like(row) for _ in range(world)]
    dist.all_gather(rows, row)
    if dist.get_rank() == 0:
        from rnnzoo.provenance import provenance

        formula = {"lasp2": 3 * (world - 1) * state_bytes, "ring": (2 if world > 2 else 1) * state_bytes if world > 1 else 0}[method]
        record = {"T": length, "procs": world, "method": method, "steps": steps,
                  "seconds_per_step": max(float(r[0]) for r in rows),
                  "peak_mib_per_process": max(float(r[1]) for r in rows),
                  "bytes_received_per_rank": max(float(r[2]) for r in rows),
                  "bytes_formula": formula, "state_bytes": state_bytes, "threads_per_process": 1,
                  "provenance": provenance()}
        with open(out, "a") as f:
            f.write(json.dumps(record) + "\n")
    sys.stdout.flush()
    os._exit(0)  # no gloo teardown from Python (it can deadlock on the GIL: rnnzoo.train.trainer)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[16384, 32768, 65536])
    parser.add_argument("--procs", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--methods", nargs="+", default=["lasp2", "ring"], choices=["lasp2", "ring"])
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--out", default="results/sequence_parallel.jsonl")
    parser.add_argument("--worker", nargs=2, metavar=("T", "METHOD"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(int(args.worker[0]), args.worker[1], args.steps, args.out)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    done = {(r["T"], r["procs"], r["method"]) for r in read_jsonl(out, warn=lambda msg: print(msg, file=sys.stderr))}
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for length in args.lengths:
        for procs in args.procs:
            for method in args.methods if procs > 1 else ["lasp2"]:
                if (length, procs, method) in done:
                    continue
                subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
                                str(procs), __file__, "--worker", str(length), method, "--steps", str(args.steps),
                                "--out", str(out)], env=env, check=True)
    rows = read_jsonl(out, warn=lambda msg: print(msg, file=sys.stderr))
    print("| T | P | method | s/step | peak MiB/proc | bytes recv/rank/step | formula |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in sorted(rows, key=lambda r: (r["T"], r["procs"], r["method"])):
        print(f"| {r['T']} | {r['procs']} | {r['method']} | {r['seconds_per_step']:.2f} | "
              f"{r['peak_mib_per_process']:.0f} | {r['bytes_received_per_rank']:.0f} | {r['bytes_formula']} |")


if __name__ == "__main__":
    main()
