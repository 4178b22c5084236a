"""Where a training step's time goes: one step (forward, cross-entropy, backward, AdamW) of the language models
that ``benchmarks/train_speed.py`` times, under ``torch.profiler`` on the CPU, split into parts of the model.

    python benchmarks/train_profile.py --T 1024 --out results/speed/train_profile_1024.json
    python benchmarks/train_profile.py --T 4096 --mixers mamba,gated_deltanet --out results/speed/train_profile_4096.json

Each model runs in a fresh process (one thread, the kept-memory allocator, as the Trainer runs), two untimed
steps, then one profiled step. Every operator's own time goes to the innermost part it ran in: forward hooks
label the embedding, the norms (``RMSNorm``, ``LayerNorm``, ``GatedRMSNorm``), the mixer's ``nn.Linear``
projections, its short convolutions, the ``rnnzoo.ops`` function it calls (the op), the rest of the mixer (gates,
activations, reshapes), the MLP and the head; the loss and AdamW are labelled around their calls. A backward
operator goes to the part whose forward operator created its autograd node (matched by sequence number). The
allocator's share is the step's system time (page faults), read from ``getrusage``; it is ~0 under the kept-memory
allocator and is measured for the default one with ``--allocator default``.

``--table`` prints, from ``--out``, the floor that the model's widths and op set (see ``floor_table``).
"""

from __future__ import annotations

import argparse
import functools
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F
from torch.profiler import ProfilerActivity, profile, record_function

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_speed import VOCAB, build  # noqa: E402  (the benchmark's models, baseline included)

from rnnzoo.io import atomic_write_json  # noqa: E402
from rnnzoo.provenance import provenance  # noqa: E402
from rnnzoo.runtime import keep_freed_memory  # noqa: E402

PARTS = ("embed", "norms", "projections", "short conv", "op", "gates/rest of mixer", "mlp", "head", "loss",
         "adamw", "other")
PREFIX = "part::"


def _label(module: nn.Module, part: str) -> None:
    """Run ``module``'s forward inside record_function(PREFIX + part)."""
    def pre(mod, args):
        mod._part_scope = record_function(PREFIX + part)
        mod._part_scope.__enter__()

    def post(mod, args, out):
        mod._part_scope.__exit__(None, None, None)

    module.register_forward_pre_hook(pre)
    module.register_forward_hook(post)


def _wrap_ops() -> None:
    """Label every ``rnnzoo.ops`` function a mixer module imported as the op, and the fused projections and short
    convolutions of ``rnnzoo.mixers.fused`` as projections and short conv."""
    fused = {"fused_linear": "projections", "fused_short_conv": "short conv"}
    for name, mod in list(sys.modules.items()):
        if not name.startswith("rnnzoo.mixers.") or mod is None:
            continue
        for attr, fn in list(vars(mod).items()):
            if not callable(fn) or isinstance(fn, type):
                continue
            where = getattr(fn, "__module__", "") or ""
            part = "op" if where.startswith("rnnzoo.ops") else fused.get(attr) if where == "rnnzoo.mixers.fused" else None
            if part is not None:
                def wrapped(*a, _fn=fn, _part=part, **k):
                    with record_function(PREFIX + _part):
                        return _fn(*a, **k)
                setattr(mod, attr, functools.wraps(fn)(wrapped))
    sdpa = F.scaled_dot_product_attention

    def attention_op(*a, **k):
        with record_function(PREFIX + "op"):
            return sdpa(*a, **k)
    F.scaled_dot_product_attention = attention_op


def label_model(model: nn.Module) -> None:
    from rnnzoo.mixers.norms import GatedRMSNorm
    from rnnzoo.mixers.short_conv import ShortConvolution

    in_mixer = set()
    for name, mod in model.named_modules():
        if ".mixer" in name or ".attn" in name or isinstance(mod, nn.MultiheadAttention):
            in_mixer.add(mod)
    for name, mod in model.named_modules():
        if isinstance(mod, (nn.RMSNorm, nn.LayerNorm, nn.GroupNorm, GatedRMSNorm)):
            _label(mod, "norms")
        elif isinstance(mod, ShortConvolution):
            _label(mod, "short conv")
        elif isinstance(mod, nn.Embedding):
            _label(mod, "embed")
        elif name.endswith(".mlp") or name.endswith(".fc") or name.endswith(".out"):
            _label(mod, "mlp")
        elif name == "head" or (name == "" and not hasattr(mod, "head")):  # the baseline's head is a matmul
            _label(mod, "head")
        elif type(mod).__name__ == "NanoBlock":
            _label(mod, "other")
        elif isinstance(mod, nn.Linear) and (mod in in_mixer or name.endswith((".qkv", ".proj"))):
            _label(mod, "projections")
        elif name.endswith(".mixer"):
            _label(mod, "gates/rest of mixer")


def _part_of(event, cache) -> str | None:
    e = event
    while e is not None:
        if e.name.startswith(PREFIX):
            return e.name[len(PREFIX):]
        e = e.cpu_parent
    return None


def attribute(events) -> dict[str, float]:
    """Self CPU seconds per part (see the module docstring)."""
    by_seq: dict[int, str] = {}
    for e in events:  # forward ops: their part, by autograd sequence number
        if e.sequence_nr >= 0 and not e.name.startswith("autograd::"):
            part = _part_of(e, None)
            if part is not None:
                by_seq.setdefault(e.sequence_nr, part)
    totals = dict.fromkeys(PARTS, 0.0)
    for e in events:
        part, a = None, e
        while a is not None:  # innermost label, or the backward node the event runs in
            if a.name.startswith(PREFIX):
                part = a.name[len(PREFIX):]
                break
            if a.name.startswith("autograd::engine::evaluate_function"):
                part = by_seq.get(a.sequence_nr, "other")
                if "AccumulateGrad" in a.name:
                    part = "adamw"
                break
            if a.name.startswith("Optimizer.step"):
                part = "adamw"
                break
            a = a.cpu_parent
        totals[part or "other"] += e.self_cpu_time_total / 1e6
    return totals


def worker(name: str, t: int, args) -> dict:
    torch.set_num_threads(1)
    if args.allocator == "keep":
        keep_freed_memory()
    torch.manual_seed(0)
    tokens = torch.randint(0, VOCAB, (args.B, t + 1))
    model = build(name, args.d_model, args.layers, t)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    _wrap_ops()
    label_model(model)

    def step():
        logits = model(tokens[:, :-1])
        with record_function(PREFIX + "loss"):
            loss = F.cross_entropy(logits.flatten(0, 1), tokens[:, 1:].flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        with record_function(PREFIX + "adamw"):
            opt.step()

    for _ in range(2):
        step()
    r0, w0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    step()
    r1, plain = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter() - w0
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    parts = attribute(prof.events())
    return {"model": name, "T": t, "B": args.B, "d_model": args.d_model, "layers": args.layers,
            "allocator": args.allocator, "step_seconds": plain, "user_seconds": r1.ru_utime - r0.ru_utime,
            "allocator_sys_seconds": r1.ru_stime - r0.ru_stime, "minor_faults": r1.ru_minflt - r0.ru_minflt,
            "profiled_seconds": sum(parts.values()), "parts_seconds": parts}


FIXED = ("projections", "mlp", "head", "op")  # the GEMMs that the widths fix, and the op itself


def floor_table(rows: list[dict]) -> str:
    """Markdown, one row per model: profiled seconds per step, the GEMM work its widths fix (projections, MLP,
    head), its op, their sum against the baseline's whole step, and the ceiling: the baseline's step over (that
    sum + the baseline's own remaining parts), i.e. the best ratio to the baseline that this op and these
    widths allow if every other part (norms, convolutions, gates, loss, AdamW) cost no more than the
    baseline's. Needs the ``nanogpt`` row."""
    base = next((r for r in rows if r["model"] == "nanogpt"), None)
    if base is None:
        raise ValueError("floor_table: no nanogpt (baseline) row in the profile")
    b = base["profiled_seconds"]
    b_rest = b - sum(base["parts_seconds"].get(k, 0.0) for k in FIXED)
    lines = ["| model | s/step (profiled) | GEMMs: projections + MLP + head | op | sum | sum / baseline step "
             "| rest (norms, conv, gates, loss, AdamW, other) | ceiling vs baseline | measured vs baseline |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        p, s = r["parts_seconds"], r["profiled_seconds"]
        gemm = sum(p.get(k, 0.0) for k in ("projections", "mlp", "head"))
        fixed = gemm + p.get("op", 0.0)
        lines.append(f"| {r['model']} | {s:.3f} | {gemm:.3f} | {p.get('op', 0.0):.3f} | {fixed:.3f} | {fixed / b:.2f} "
                     f"| {s - fixed:.3f} | {b / (fixed + b_rest):.2f}x | {b / s:.2f}x |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mixers", default="lstm,gla,retnet,mamba,mamba2,gated_deltanet,attention")
    p.add_argument("--T", type=int, default=1024)
    p.add_argument("--B", type=int, default=8)
    p.add_argument("--d-model", type=int, default=256)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--allocator", choices=("keep", "default"), default="keep")
    p.add_argument("--out", type=Path, required=True, help="JSON summary (rows are added as each model finishes)")
    p.add_argument("--table", action="store_true", help="print the floor table from --out and stop")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.table:
        print(floor_table(json.loads(args.out.read_text())["rows"]))
        return
    if args.worker:
        print(json.dumps(worker(args.worker, args.T, args)))
        return
    passthrough = [f"--T={args.T}", f"--B={args.B}", f"--d-model={args.d_model}", f"--layers={args.layers}",
                   f"--allocator={args.allocator}", f"--out={args.out}"]
    done = json.loads(args.out.read_text())["rows"] if args.out.exists() else []
    have = {r["model"] for r in done}
    for name in ["nanogpt", *args.mixers.split(",")]:
        if name in have:
            continue
        out = subprocess.run([sys.executable, __file__, f"--worker={name}", *passthrough],
                             capture_output=True, text=True, check=True)
        row = json.loads(out.stdout.strip().splitlines()[-1])
        done.append(row)
        atomic_write_json(args.out, {"provenance": provenance(), "rows": done})
        shares = "  ".join(f"{k} {v / row['profiled_seconds']:.0%}" for k, v in row["parts_seconds"].items() if v)
        print(f"{name} T={args.T}: {row['step_seconds']:.2f} s/step; {shares}", flush=True)


if __name__ == "__main__":
    main()
