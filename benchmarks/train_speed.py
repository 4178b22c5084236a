"""End-to-end training throughput: tokens per second of a full training step (forward, cross-entropy,
backward, AdamW) of rnnzoo language models against an independent nanoGPT-style attention LM of the same
width and depth, in one process, side by side.

    python benchmarks/train_speed.py                                   # 4 layers, d_model 256, B 8, T 1024,4096
    python benchmarks/train_speed.py --T 1024,4096,16384 --mixers lstm,gla,mamba --rounds 5
    python benchmarks/train_speed.py --allocator default               # without rnnzoo.runtime.keep_freed_memory

The baseline is written here, not taken from rnnzoo: pre-norm blocks (LayerNorm), fused q/k/v, causal
``scaled_dot_product_attention``, a GELU MLP of 4x width, learned positions, a tied head. Every model
trains on the same random tokens (vocabulary 256). Each round times one step of every model in turn (so
drift in the machine's speed hits all models alike) after ``--warmup`` untimed steps; a row is the median
over ``--rounds``. Each (model, round) runs in a fresh process: eight models' activations interleaved in one
heap fragmented it past 17 GB at T=1024 under the kept-memory allocator, which no single model needs
(1.3-3.2 GB each). Both sides run under the same allocator setting (``--allocator keep``: glibc keeps freed
memory, what the Trainer and the CLI do; ``default``: glibc's defaults). Rows are appended to --out (JSONL,
with provenance) and printed as a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
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


def worker(name: str, t: int, args) -> float:
    """One model's timed step after ``args.warmup`` untimed ones, in this (fresh) process."""
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.allocator == "keep":
        keep_freed_memory()
    torch.manual_seed(0)
    tokens = torch.randint(0, VOCAB, (args.B, t + 1))
    model = build(name, args.d_model, args.layers, t)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    for _ in range(args.warmup):
        step_seconds(model, opt, tokens)
    return step_seconds(model, opt, tokens)


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
        print(json.dumps({"seconds": worker(name, int(t), args), "load": os.getloadavg()[0]}))
        return
    stamp = provenance()
    passthrough = [f"--B={args.B}", f"--d-model={args.d_model}", f"--layers={args.layers}",
                   f"--warmup={args.warmup}", f"--allocator={args.allocator}"]
    passthrough += [f"--threads={args.threads}"] if args.threads else []
    print("| model | T | tok/s | s/step | params |\n|---|---:|---:|---:|---:|", flush=True)
    for t in (int(x) for x in args.T.split(",")):
        times, loads = {n: [] for n in names}, {n: [] for n in names}
        for _ in range(args.rounds):
            for n in names:
                out = subprocess.run([sys.executable, __file__, f"--worker={n}@{t}", *passthrough],
                                     capture_output=True, text=True, check=True)
                done = json.loads(out.stdout.strip().splitlines()[-1])
                times[n].append(done["seconds"])
                loads[n].append(done["load"])  # 1-minute load average as the step ended: a shared machine's noise
        for n in names:
            sec = statistics.median(times[n])
            params = sum(q.numel() for q in build(n, args.d_model, args.layers, t).parameters())
            row = {"model": n, "T": t, "B": args.B, "d_model": args.d_model, "layers": args.layers,
                   "tokens_per_s": args.B * t / sec, "seconds_per_step": sec, "rounds": times[n],
                   "params": params, "allocator": args.allocator, "load_average": loads[n],
                   "threads": args.threads or torch.get_num_threads(), "provenance": stamp}
            append_jsonl(args.out, row)
            print(f"| {n} | {t} | {row['tokens_per_s']:,.0f} | {sec:.3f} | {params:,} |", flush=True)


if __name__ == "__main__":
    main()
