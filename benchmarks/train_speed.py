"""End-to-end training throughput: tokens per second of a full training step (forward, cross-entropy,
backward, AdamW) of rnnzoo language models against an independent nanoGPT-style attention LM of the same
width and depth, in one process, side by side.

    python benchmarks/train_speed.py                                   # 4 layers, d_model 256, B 8, T 1024,4096
    python benchmarks/train_speed.py --T 1024,4096,16384 --mixers lstm,gla,mamba --rounds 5
    python benchmarks/train_speed.py --allocator default               # without rnnzoo.runtime.keep_freed_memory
    python benchmarks/train_speed.py --compile --T 1024 --mixers attention,gla  # eager and torch.compile'd, side by side

The baseline is written here, not taken from rnnzoo: pre-norm blocks (LayerNorm), fused q/k/v, causal
``scaled_dot_product_attention``, a GELU MLP of 4x width, learned positions, a tied head. Every model
trains on the same random tokens (vocabulary 256). Each round times one step of every model in turn (so
drift in the machine's speed hits all models alike) after ``--warmup`` untimed steps; a row is the median
over ``--rounds``. Each (model, round) runs in a fresh process: eight models' activations interleaved in one
heap fragmented it past 17 GB at T=1024 under the kept-memory allocator, which no single model needs
(1.3-3.2 GB each). Both sides run under the same allocator setting (``--allocator keep``: glibc keeps freed
memory, what the Trainer and the CLI do; ``default``: glibc's defaults). Rows are appended to --out (JSONL,
with provenance) and printed as a markdown table.

``--compile`` runs every model twice per round, eager and wrapped in ``torch.compile`` (backend inductor,
mode "default", not fullgraph: what a user's one-line ``torch.compile(model)`` gives; the optimiser stays
eager), each in its own process. The compiled worker's first step traces and compiles the forward and the
backward graphs: it is reported as ``compile_s`` (compile time plus one step) and kept out of the timed step,
which follows ``--warmup`` further steps. Graph breaks (dynamo's reasons, e.g. a custom autograd function
around a ctypes kernel) and the number of compiled graphs are recorded; a compiled worker that fails or runs
past ``--compile-timeout`` leaves a row with the error instead of stopping the run. Inductor's own compile
workers are held to one (``TORCHINDUCTOR_COMPILE_THREADS=1``) on this shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from rnnzoo.io import append_jsonl
from rnnzoo.models.lm import LanguageModel, LMConfig
from rnnzoo.provenance import provenance
from rnnzoo.runtime import keep_freed_memory

VOCAB = 256
COMPILE = {"backend": "inductor", "mode": "default"}  # what --compile passes to torch.compile


class NanoBlock(nn.Module):
    def __init__(self, d: int, heads: int):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.fc, self.out = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)
        self.heads = heads

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(b, t, d)
        x = x + self.proj(y)
        return x + self.out(F.gelu(self.fc(self.ln2(x))))


class NanoGPT(nn.Module):
    """nanoGPT's shape: token + position embeddings, pre-norm attention blocks, final LayerNorm, tied head."""

    def __init__(self, d: int, layers: int, heads: int, max_len: int):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(VOCAB, d), nn.Embedding(max_len, d)
        self.blocks = nn.ModuleList(NanoBlock(d, heads) for _ in range(layers))
        self.ln = nn.LayerNorm(d)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.wte(tokens) + self.wpe(torch.arange(tokens.shape[1], device=tokens.device))
        for block in self.blocks:
            x = block(x)
        return self.ln(x) @ self.wte.weight.T


def build(name: str, d: int, layers: int, max_len: int) -> nn.Module:
    if name == "nanogpt":
        return NanoGPT(d, layers, heads=d // 64, max_len=max_len)
    return LanguageModel(LMConfig(vocab_size=VOCAB, mixer=name, n_layers=layers, d_model=d))


def step_seconds(model: nn.Module, opt: torch.optim.Optimizer, tokens: torch.Tensor) -> float:
    start = time.perf_counter()
    logits = model(tokens[:, :-1])
    loss = F.cross_entropy(logits.flatten(0, 1), tokens[:, 1:].flatten())
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return time.perf_counter() - start


def worker(name: str, t: int, args) -> dict:
    """One model's timed step after ``args.warmup`` untimed ones, in this (fresh) process; with
    ``args.compile`` the model is wrapped in ``torch.compile`` and its first (compiling) step is timed apart."""
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.allocator == "keep":
        keep_freed_memory()
    torch.manual_seed(0)
    tokens = torch.randint(0, VOCAB, (args.B, t + 1))
    model = build(name, args.d_model, args.layers, t)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    done = {}
    if args.compile:
        from torch._dynamo.utils import counters

        model = torch.compile(model, **COMPILE)
        done["compile_s"] = step_seconds(model, opt, tokens)
        breaks = done["graph_breaks"] = {}
        for reason, n in counters["graph_break"].items():
            breaks[break_site(reason)] = breaks.get(break_site(reason), 0) + n
        done["graphs"] = counters["stats"]["unique_graphs"]
    for _ in range(args.warmup):
        step_seconds(model, opt, tokens)
    return {"seconds": step_seconds(model, opt, tokens), **done}


def break_site(reason: str) -> str:
    """Dynamo's graph-break reason as its first line and the last rnnzoo source line it names."""
    sites = re.findall(r'File "[^"]*?(rnnzoo/[^"]+)", line (\d+)', reason)
    return reason.splitlines()[0] + (f" at {sites[-1][0]}:{sites[-1][1]}" if sites else "")


def run_worker(name: str, t: int, compiled: bool, passthrough: list[str], timeout: float) -> dict:
    """``worker`` in a fresh process. An eager failure stops the run; a compiled one becomes {"error": ...}."""
    cmd = [sys.executable, __file__, f"--worker={name}@{t}", *passthrough, *(["--compile"] if compiled else [])]
    if not compiled:
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])
    env = {**os.environ, "TORCHINDUCTOR_COMPILE_THREADS": "1"}
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"error": f"did not finish within --compile-timeout {timeout:g} s", "load": os.getloadavg()[0]}
    if out.returncode:
        errors = [line for line in out.stderr.splitlines() if "Error" in line or "error:" in line]
        return {"error": f"exit code {out.returncode}: {(errors or out.stderr.splitlines() or ['no stderr'])[-1]}",
                "load": os.getloadavg()[0]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mixers", default="attention,lstm,gla,retnet,mamba,mamba2,gated_deltanet",
                   help="rnnzoo registry mixers (the nanoGPT baseline always runs)")
    p.add_argument("--T", default="1024,4096", help="sequence lengths")
    p.add_argument("--B", type=int, default=8)
    p.add_argument("--d-model", type=int, default=256)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--allocator", choices=("keep", "default"), default="keep")
    p.add_argument("--out", type=Path, default=Path("results/speed/train/train_speed.jsonl"))
    p.add_argument("--compile", action="store_true",
                   help=f"also run every model under torch.compile ({COMPILE}), compile time reported apart")
    p.add_argument("--compile-timeout", type=float, default=1200,
                   help="--compile: seconds before a compiled worker counts as failed")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)  # internal: MODEL@T in a fresh process
    args = p.parse_args(argv)
    names = ["nanogpt", *args.mixers.split(",")]
    for name in names[1:]:
        try:
            build(name, 64, 1, 8)  # the language model refuses unknown and non-causal mixers
        except ValueError as e:
            p.error(str(e))
    if any(int(t) < 1 for t in args.T.split(",")) or min(args.B, args.rounds) < 1:
        p.error("--T, --B and --rounds must be positive")
    if args.worker:
        name, t = args.worker.split("@")
        print(json.dumps({**worker(name, int(t), args), "load": os.getloadavg()[0]}))
        return
    stamp = provenance()
    passthrough = [f"--B={args.B}", f"--d-model={args.d_model}", f"--layers={args.layers}",
                   f"--warmup={args.warmup}", f"--allocator={args.allocator}"]
    passthrough += [f"--threads={args.threads}"] if args.threads else []
    variants = [(n, c) for n in names for c in ((False, True) if args.compile else (False,))]
    print("| model | compiled | T | tok/s | s/step | params | compile s |\n|---|---|---:|---:|---:|---:|---:|", flush=True)
    for t in (int(x) for x in args.T.split(",")):
        runs = {v: [] for v in variants}
        for last_round in [False] * (args.rounds - 1) + [True]:
            for n, compiled in variants:
                runs[n, compiled].append(run_worker(n, t, compiled, passthrough, args.compile_timeout))
                if last_round:  # each row as soon as it is complete: an interrupted run keeps the rows before
                    write_row(n, compiled, t, runs[n, compiled], args, stamp)


def write_row(n: str, compiled: bool, t: int, done: list[dict], args, stamp: dict) -> None:
    """Append the row of one model (eager or compiled) at length t from its rounds, and print it."""
    times = [d["seconds"] for d in done if "seconds" in d]
    params = sum(q.numel() for q in build(n, args.d_model, args.layers, t).parameters())
    row = {"model": n, "T": t, "B": args.B, "d_model": args.d_model, "layers": args.layers,
           "rounds": times, "params": params, "allocator": args.allocator,
           "load_average": [d["load"] for d in done],  # 1-minute load as each step ended: the noise
           "threads": args.threads or torch.get_num_threads(), "compiled": compiled, "provenance": stamp}
    if times:
        sec = statistics.median(times)
        row.update(tokens_per_s=args.B * t / sec, seconds_per_step=sec)
    if compiled:
        row.update(compile=COMPILE, compile_s=[d.get("compile_s") for d in done],
                   graph_breaks=done[0].get("graph_breaks"), graphs=done[0].get("graphs"),
                   errors=[d["error"] for d in done if "error" in d])
    append_jsonl(args.out, row)
    speed = f"{row['tokens_per_s']:,.0f} | {sec:.3f}" if times else f"failed: {row['errors'][0]} | -"
    first = row.get("compile_s", [None])[0]
    print(f"| {n} | {'yes' if compiled else 'no'} | {t} | {speed} | {params:,} | "
          f"{'-' if first is None else f'{first:.1f}'} |", flush=True)


if __name__ == "__main__":
    main()
