"""Speculative decoding on the character LM: tokens/s of plain greedy decoding (the named baseline) against
greedy decoding with a small recurrent draft, for a few target/draft pairs and draft lengths, with the
draft's acceptance rate (greedy and temperature-1 sampling). Models are trained first with
``rnnzoo.apps.lm.train_lm`` on the standard-library corpus (skipped when ``--ckpt-dir/<name>/lm.json`` exists).
One row per (pair, draft_k) is appended to ``--out`` (JSONL); rows already there are skipped, so an
interrupted run resumes.

    nice -n 10 python benchmarks/speculative.py --out results/generation/speculative.jsonl

A model is ``mixer:n_layers:d_model``; a pair is ``target/draft``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from rnnzoo.io import read_jsonl


def train(spec: str, steps: int, ckpt_dir: Path) -> tuple[Path, dict]:
    from rnnzoo.apps.lm import LMTrainConfig, train_lm
    from rnnzoo.config_args import override

    out = ckpt_dir / spec.replace(":", "_")
    if not (out / "lm.json").is_file():
        mixer, layers, width = spec.split(":")
        train_lm(override(LMTrainConfig(), mixer=mixer, n_layers=int(layers), d_model=int(width), steps=steps,
                          eval_every=steps, eval_chars=20_000, out_dir=str(out), overwrite=True))
    return out, json.loads((out / "lm.json").read_text())


def measure(target, draft, prompts, n: int, k: int) -> dict:
    import torch

    from rnnzoo.models.generate import greedy
    from rnnzoo.models.speculative import speculative_greedy, speculative_sample

    times = {"plain": 0.0, "speculative": 0.0}
    drafted = accepted = calls = 0
    for prompt in prompts:
        start = time.perf_counter()
        plain = greedy(target, prompt, n)
        times["plain"] += time.perf_counter() - start
        start = time.perf_counter()
        fast, stats = speculative_greedy(target, draft, prompt, n, k)
        times["speculative"] += time.perf_counter() - start
        if not torch.equal(plain, fast):
            raise RuntimeError("speculative greedy output differs from plain greedy")
        drafted, accepted, calls = drafted + stats.drafted, accepted + stats.accepted, calls + stats.target_calls
    gen = torch.Generator().manual_seed(0)
    sampled = [speculative_sample(target, draft, p, n, k, generator=gen)[1] for p in prompts]
    tokens = n * len(prompts)
    return {"plain_tok_s": tokens / times["plain"], "speculative_tok_s": tokens / times["speculative"],
            "speedup": times["plain"] / times["speculative"], "greedy_acceptance": accepted / drafted,
            "target_calls_per_token": calls / tokens,
            "sample_acceptance": sum(s.accepted for s in sampled) / sum(s.drafted for s in sampled)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pairs", default="attention:2:128/lstm:1:32,lstm:2:128/lstm:1:32")
    p.add_argument("--draft-k", default="1,2,4,8", help="draft lengths compared")
    p.add_argument("--steps", type=int, default=300, help="training steps of every model")
    p.add_argument("--tokens", type=int, default=200, help="generated tokens per prompt")
    p.add_argument("--prompts", type=int, default=5, help="prompts, cut from the test split")
    p.add_argument("--ckpt-dir", default="bench_results/speculative")  # git-ignored
    p.add_argument("--out", default="bench_results/speculative.jsonl")
    args = p.parse_args()

    import torch

    from rnnzoo.apps.lm import load_corpus, load_lm
    from rnnzoo.provenance import provenance

    torch.set_num_threads(1)
    out = Path(args.out)
    done = {(r["pair"], r["draft_k"]) for r in read_jsonl(out, warn=lambda msg: print(msg, file=sys.stderr))}
    test = load_corpus()["test"]
    print(f"greedy, batch 1, {args.tokens} tokens x {args.prompts} prompts, 1 thread, load {os.getloadavg()[0]:.1f}")
    print(f"{'target / draft':<34}{'k':>3}{'plain tok/s':>12}{'spec tok/s':>11}{'speedup':>8}"
          f"{'accept greedy':>14}{'accept sample':>14}")
    for pair in args.pairs.split(","):
        target_spec, draft_spec = pair.split("/")
        (t_dir, t_info), (d_dir, d_info) = train(target_spec, args.steps, Path(args.ckpt_dir)), \
            train(draft_spec, args.steps, Path(args.ckpt_dir))
        target, vocab = load_lm(t_dir)
        draft, _ = load_lm(d_dir)
        starts = range(0, len(test) - 64, (len(test) - 64) // args.prompts)[: args.prompts]
        prompts = [torch.from_numpy(vocab.encode(test[s: s + 64]))[None] for s in starts]
        for k in [int(x) for x in args.draft_k.split(",")]:
            if (pair, k) in done:
                continue
            row = {"pair": pair, "draft_k": k, "target_test_bpc": t_info["test_bpc"],
                   "draft_test_bpc": d_info["test_bpc"], "target_params": t_info["params"],
                   "draft_params": d_info["params"], **measure(target, draft, prompts, args.tokens, k),
                   "tokens": args.tokens, "prompts": args.prompts, "steps": args.steps,
                   "load_avg": os.getloadavg()[0], "provenance": provenance()}
            out.parent.mkdir(parents=True, exist_ok=True)
            with out.open("a") as f:
                f.write(json.dumps(row) + "\n")
            print(f"{pair:<34}{k:>3}{row['plain_tok_s']:>12.0f}{row['speculative_tok_s']:>11.0f}"
                  f"{row['speedup']:>8.2f}{row['greedy_acceptance']:>14.2f}{row['sample_acceptance']:>14.2f}",
                  flush=True)


if __name__ == "__main__":
    main()
