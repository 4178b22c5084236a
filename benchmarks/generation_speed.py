"""Generation speed and memory: tokens/s, decoding-state bytes and peak RSS growth while a LanguageModel
generates N tokens greedily through ``model.step`` (the path ``rnnzoo.models.generate`` uses), one fresh
subprocess per (mixer, N) so peaks do not leak between configs. Baseline: softmax attention with its
growing KV cache; recurrent mixers should show constant state and flat memory.

    python benchmarks/generation_speed.py --lengths 1000,4000,16000 --out results/speed/generation/generation.json

Mixers that are not registered in this checkout are skipped with a note.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time


def worker(mixer: str, n_tokens: int, d_model: int, n_layers: int, vocab: int) -> dict:
    import torch

    from rnnzoo.models import LanguageModel, LMConfig

    torch.manual_seed(0)
    model = LanguageModel(LMConfig(vocab, d_model, n_layers, mixer)).eval()
    with torch.no_grad():
        logits, state = model.forward_with_state(torch.zeros(1, 8, dtype=torch.long), None)
        token = logits[:, -1].argmax(-1)
        for _ in range(16):  # warm the allocator and kernels before taking the baseline
            logits, warm_state = model.step(token, state)
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        start = time.perf_counter()
        for _ in range(n_tokens):
            logits, state = model.step(token, state)
            token = logits.argmax(-1)
        seconds = time.perf_counter() - start
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    state_bytes = sum(t.numel() * t.element_size() for s in state for t in s)
    return {"mixer": mixer, "tokens": n_tokens, "params": sum(p.numel() for p in model.parameters()),
            "tokens_per_s": n_tokens / seconds, "seconds": seconds, "state_mib": state_bytes / 2**20,
            "peak_rss_growth_mib": (rss1 - rss0) / 1024, "peak_rss_mib": rss1 / 1024}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mixers", default="attention,lstm,mamba,gated_deltanet,sliding_attention")
    p.add_argument("--lengths", default="1000,4000,16000", help="generated tokens per run")
    p.add_argument("--d-model", type=int, default=128)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--vocab", type=int, default=256)
    p.add_argument("--out", default="bench_results/generation.json")  # git-ignored; committed runs pass --out
    p.add_argument("--worker", nargs=2, metavar=("MIXER", "N"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker[0], int(args.worker[1]), args.d_model, args.layers, args.vocab)))
        return

    from rnnzoo import mixers
    from rnnzoo.io import atomic_write_json
    from rnnzoo.provenance import provenance

    names = [m for m in args.mixers.split(",") if m in mixers.names()]
    skipped = [m for m in args.mixers.split(",") if m not in names]
    rows = []
    print(f"greedy generation, d_model={args.d_model}, layers={args.layers}, vocab={args.vocab}, batch 1, "
          f"torch threads={os.environ.get('OMP_NUM_THREADS', 'default')}, load {os.getloadavg()[0]:.1f}")
    print(f"{'mixer':<18}{'params':>9}{'tokens':>8}{'tok/s':>9}{'state MiB':>11}{'peak RSS +MiB':>15}")
    for n in [int(x) for x in args.lengths.split(",")]:
        for name in names:
            cmd = [sys.executable, __file__, "--worker", name, str(n), "--d-model", str(args.d_model),
                   "--layers", str(args.layers), "--vocab", str(args.vocab)]
            r = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
            rows.append(r)
            print(f"{name:<18}{r['params']:>9,}{n:>8}{r['tokens_per_s']:>9.0f}{r['state_mib']:>11.3f}"
                  f"{r['peak_rss_growth_mib']:>15.1f}", flush=True)
    if skipped:
        print(f"not registered here, skipped: {', '.join(skipped)}")
    atomic_write_json(args.out, {"rows": rows, "skipped": skipped, "d_model": args.d_model, "layers": args.layers,
                                 "load_avg": os.getloadavg()[0], "provenance": provenance()})


if __name__ == "__main__":
    main()
