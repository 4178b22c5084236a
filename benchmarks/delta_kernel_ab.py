"""Two builds of the delta-rule kernel (``csrc/delta_rule.c``) timed against each other in one process: the C
entry points alone (no autograd around them), forward and backward in turn, round by round, on the same inputs.

    git show 96e4063:rnnzoo/ops/kernels/csrc/delta_rule.c > /tmp/old/delta_rule.c
    cp rnnzoo/ops/kernels/csrc/simd.h /tmp/old/
    python benchmarks/delta_kernel_ab.py --old /tmp/old/delta_rule.c --old-takes-log-decays --rounds 5 \\
        --out results/speed/ops/delta_kernel_fused_ab.json

``--old`` is the C source of the other build (compiled here with the same flags as ``kernels/native.py``), with
the headers it includes beside it (``simd.h``; also ``rows.h`` for sources that include it);
``--old-takes-log-decays`` for builds before the decays exp(g) were passed in (they take g itself). Cases: no
decay (``delta_rule``), one decay per token (``gated_delta_rule``) and one per key channel (``kda``), B=8, H=4,
K=V=64, one row per token, one thread. Writes one JSON row per case: median milliseconds of each build and the
median of the per-round ratios old / new.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from rnnzoo.ops.kernels import delta_rule as kernel
from rnnzoo.ops.kernels import native
from rnnzoo.provenance import provenance

SEG = 32


def build(src: Path) -> ctypes.CDLL:
    out = Path(tempfile.mkdtemp()) / "old.so"
    flags = ["-O3", "-fPIC", "-shared", "-march=native"]
    subprocess.run([native._compiler() or "cc", *flags, str(src), "-o", str(out), "-lm"], check=True)
    return ctypes.CDLL(str(out))


def inputs(b, t, h, dk, dv, decay):
    gen = torch.Generator().manual_seed(0)
    q = torch.randn(b, t, h, dk, generator=gen) * dk ** -0.5
    k = F.normalize(torch.randn(b, t, h, dk, generator=gen), dim=-1)
    a = k * torch.rand(b, t, h, 1, generator=gen)
    x = torch.randn(b, t, h, dv, generator=gen)
    shape = {"none": None, "token": (b, t, h), "key": (b, t, h, dk)}[decay]
    g = None if shape is None else F.logsigmoid(torch.randn(*shape, generator=gen) + 3)
    return q, k, a, x, g, torch.randn(b, h, dk, dv, generator=gen), torch.randn(b, t, h, dv, generator=gen)


def timed(lib, tensors, log_decays):
    """(forward s, backward s) of one call each on all (batch, head) pairs."""
    q, k, a, x, g, s0, do = tensors
    b, t, h, dk = q.shape
    dv, per_key = x.shape[-1], g is not None and g.dim() == 4
    g = g if g is None or log_decays else g.exp()
    o, s = x.new_empty(b, t, h, dv), x.new_empty(b, h, dk, dv)
    ckpt = x.new_empty(b * h, -(-t // SEG), dk, dv)
    scratch, work = x.new_empty(kernel._scratch_size(dk, dv)), x.new_empty(kernel._work_size(dk, dv, SEG, 1))
    grads = [None if z is None else torch.empty_like(z) for z in (q, k, a, x, g, s0)]
    start = time.perf_counter()
    lib.delta_rule_fwd_f32(*native.args(h, t, 1, dk, dv, per_key, q, k, a, x, g, s0, o, s, ckpt, SEG, 0, b * h,
                                        scratch))
    mid = time.perf_counter()
    lib.delta_rule_bwd_f32(*native.args(h, t, 1, dk, dv, per_key, q, k, a, x, g, ckpt, SEG, do, None, *grads, 0,
                                        b * h, scratch, work))
    return mid - start, time.perf_counter() - mid


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--old", type=Path, required=True, help="C source of the other build of delta_rule.c")
    parser.add_argument("--old-takes-log-decays", action="store_true")
    parser.add_argument("--T", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("bench_results/delta_kernel_ab.json"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    libs = {"old": build(args.old), "new": native.require("delta_rule", torch.zeros(1))}
    rows = []
    for name, decay in (("delta_rule", "none"), ("gated_delta_rule", "token"), ("kda", "key")):
        tensors = inputs(8, args.T, 4, 64, 64, decay)
        times = {which: [] for which in libs}
        for _ in range(args.rounds + 1):  # the first round warms up
            for which, lib in libs.items():
                times[which].append(timed(lib, tensors, which == "old" and args.old_takes_log_decays))
        row = dict(case=name, T=args.T, rounds=args.rounds)
        for i, part in enumerate(("fwd", "bwd")):
            old, new = ([z[i] for z in times[w][1:]] for w in ("old", "new"))
            row.update({f"{part}_old_ms": 1e3 * statistics.median(old), f"{part}_new_ms": 1e3 * statistics.median(new),
                        f"{part}_old_over_new": statistics.median(o / n for o, n in zip(old, new))})
        rows.append(row)
        print(f"{name:<18} fwd {row['fwd_old_ms']:.0f} -> {row['fwd_new_ms']:.0f} ms ({row['fwd_old_over_new']:.2f}x)"
              f"   bwd {row['bwd_old_ms']:.0f} -> {row['bwd_new_ms']:.0f} ms ({row['bwd_old_over_new']:.2f}x)",
              flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"rows": rows, "provenance": provenance()}, indent=2))


if __name__ == "__main__":
    main()
