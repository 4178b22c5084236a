"""Generation speed and memory: tokens/s, decoding-state bytes and peak RSS growth while a LanguageModel
generates N tokens greedily through ``model.step`` (the path ``rnnzoo.models.generate`` uses), one fresh
subprocess per (mixer, N) so peaks do not leak between configs. Baseline: softmax attention with its
growing KV cache; recurrent mixers should show constant state and flat memory.

    python benchmarks/generation_speed.py --lengths 1000,4000,16000 --out results/speed/generation/generation.json

``--context N,...`` measures decoding at a long context instead of generating it: the model reads N random
tokens with its parallel ``forward_with_state`` (in ``--prefill-chunk`` pieces, 0 = one call), then greedily
decodes ``--steps`` tokens through ``model.step``; rows give the per-token rate at context N, the decoding
state's bytes and the process's peak RSS during prefill and during decoding (VmHWM, reset between the two).
Rows are appended to a JSONL file with provenance, and a (mixer, N) already there is skipped, so an
interrupted run resumes; a worker that fails (killed for memory, past ``--timeout``) leaves a row saying so.

    nice -n 10 python benchmarks/generation_speed.py --context 1024,16384,65536 --d-model 256 \
        --mixers lstm,attention,mamba,mamba2,gla,gated_deltanet,rwkv7 \
        --out results/speed/generation/context.jsonl

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
from pathlib import Path


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


def _state_bytes(state) -> int:
    """Bytes of every tensor in a (nested) decoding state."""
    if isinstance(state, (list, tuple)):
        return sum(_state_bytes(s) for s in state)
    return state.numel() * state.element_size() if hasattr(state, "numel") else 0


def _rss_mib(field: str) -> float:
    """VmRSS (now) or VmHWM (peak since the last reset) of this process, MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise ValueError(f"{field} is not in /proc/self/status")


WARM_STEPS = 4  # untimed decoding steps before the timed ones; the context grows by them


def context_worker(mixer: str, n_context: int, steps: int, chunk: int, d_model: int, n_layers: int,
                   vocab: int) -> dict:
    """Read n_context tokens in parallel, then time ``steps`` greedy ``model.step`` tokens at that context."""
    import torch

    from rnnzoo.models import LanguageModel, LMConfig

    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = LanguageModel(LMConfig(vocab, d_model, n_layers, mixer)).eval()
    prompt = torch.randint(0, vocab, (1, n_context))
    with torch.no_grad():
        start, cpu, state = time.perf_counter(), time.process_time(), None
        for piece in prompt.split(chunk or n_context, dim=1):
            logits, state = model.forward_with_state(piece, state)
        prefill_s, prefill_cpu_s = time.perf_counter() - start, time.process_time() - cpu
        prefill_peak = _rss_mib("VmHWM")
        token = logits[:, -1].argmax(-1)
        del logits
        for _ in range(WARM_STEPS):  # first calls allocate and dispatch for the first time; not timed
            step_logits, state = model.step(token, state)
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM: the decoding peak is measured on its own
        rss0 = _rss_mib("VmRSS")
        start, cpu = time.perf_counter(), time.process_time()
        for _ in range(steps):
            step_logits, state = model.step(token, state)
            token = step_logits.argmax(-1)
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
    return {"mixer": mixer, "context": n_context, "warm_steps": WARM_STEPS, "steps": steps, "prefill_chunk": chunk, "d_model": d_model,
            "layers": n_layers, "vocab": vocab, "params": sum(p.numel() for p in model.parameters()),
            "tokens_per_s": steps / seconds, "ms_per_token": 1e3 * seconds / steps,
            # CPU time of this one-thread process: what a core of its own would take, whatever the machine's load
            "cpu_ms_per_token": 1e3 * cpu_seconds / steps, "prefill_s": prefill_s, "prefill_cpu_s": prefill_cpu_s,
            "prefill_tokens_per_s": n_context / prefill_s, "state_mib": _state_bytes(state) / 2**20,
            "prefill_peak_rss_mib": prefill_peak, "decode_start_rss_mib": rss0,
            "decode_peak_rss_mib": _rss_mib("VmHWM"), "threads": torch.get_num_threads()}


def run_context(args, names: list[str]) -> None:
    """One fresh subprocess per (mixer, N), one after another; rows appended to args.out as they finish."""
    from rnnzoo.io import append_jsonl, read_jsonl
    from rnnzoo.provenance import provenance

    out = Path(args.out if args.out != DEFAULT_OUT else "bench_results/generation_context.jsonl")
    key = (args.d_model, args.layers, args.vocab, args.steps)
    done = {(r["mixer"], r["context"]) for r in (read_jsonl(out, print) if out.exists() else [])
            if (r["d_model"], r["layers"], r["vocab"], r["steps"]) == key}
    stamp = provenance()
    print(f"decoding at context N: d_model={args.d_model}, layers={args.layers}, vocab={args.vocab}, batch 1, "
          f"{args.steps} timed steps, one thread, load {os.getloadavg()[0]:.1f}")
    print(f"{'mixer':<16}{'N':>7}{'tok/s':>9}{'ms/tok':>9}{'CPU ms/tok':>11}{'state MiB':>11}{'prefill s':>11}"
          f"{'prefill RSS MiB':>17}{'decode RSS MiB':>16}")
    for n in [int(x) for x in args.context.split(",")]:
        for name in names:
            if (name, n) in done:
                continue
            cmd = [sys.executable, __file__, "--context-worker", name, str(n), "--steps", str(args.steps),
                   "--prefill-chunk", str(args.prefill_chunk), "--d-model", str(args.d_model),
                   "--layers", str(args.layers), "--vocab", str(args.vocab)]
            load = os.getloadavg()[0]
            try:
                res = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
                error = None if res.returncode == 0 else (
                    f"exit code {res.returncode}" + (" (killed: out of memory?)" if res.returncode in (-9, 137) else "")
                    + f": {res.stderr.strip().splitlines()[-1] if res.stderr.strip() else 'no stderr'}")
            except subprocess.TimeoutExpired:
                error = f"did not finish within --timeout {args.timeout} s"
            row = ({"mixer": name, "context": n, "steps": args.steps, "prefill_chunk": args.prefill_chunk,
                    "d_model": args.d_model, "layers": args.layers, "vocab": args.vocab, "error": error}
                   if error else json.loads(res.stdout.strip().splitlines()[-1]))
            row.update(load_average=[load, os.getloadavg()[0]], provenance=stamp)
            append_jsonl(out, row)
            if error:
                print(f"{name:<16}{n:>7}  failed: {error}", flush=True)
            else:
                print(f"{name:<16}{n:>7}{row['tokens_per_s']:>9.1f}{row['ms_per_token']:>9.2f}{row['cpu_ms_per_token']:>11.2f}"
                      f"{row['state_mib']:>11.3f}"
                      f"{row['prefill_s']:>11.1f}{row['prefill_peak_rss_mib']:>17.0f}{row['decode_peak_rss_mib']:>16.0f}",
                      flush=True)


DEFAULT_OUT = "bench_results/generation.json"  # git-ignored; committed runs pass --out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mixers", default="attention,lstm,mamba,gated_deltanet,sliding_attention")
    p.add_argument("--lengths", default="1000,4000,16000", help="generated tokens per run")
    p.add_argument("--d-model", type=int, default=128)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--vocab", type=int, default=256)
    p.add_argument("--out", default=DEFAULT_OUT, help="JSON (--lengths) or JSONL (--context) results file")
    p.add_argument("--context", default=None, help="context lengths N: decode at N tokens of context "
                   "instead of generating --lengths tokens")
    p.add_argument("--steps", type=int, default=128, help="--context: decoding steps timed at each N")
    p.add_argument("--prefill-chunk", type=int, default=0, help="--context: tokens per forward_with_state "
                   "call while reading the context (0: the whole context in one call)")
    p.add_argument("--timeout", type=float, default=1800, help="--context: seconds before a worker counts as failed")
    p.add_argument("--worker", nargs=2, metavar=("MIXER", "N"), help=argparse.SUPPRESS)
    p.add_argument("--context-worker", nargs=2, metavar=("MIXER", "N"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if min(args.steps, args.d_model, args.layers) < 1 or args.prefill_chunk < 0:
        p.error("--steps, --d-model and --layers must be positive and --prefill-chunk >= 0")
    if args.worker:
        print(json.dumps(worker(args.worker[0], int(args.worker[1]), args.d_model, args.layers, args.vocab)))
        return
    if args.context_worker:
        name, n = args.context_worker
        print(json.dumps(context_worker(name, int(n), args.steps, args.prefill_chunk, args.d_model, args.layers,
                                        args.vocab)))
        return

    from rnnzoo import mixers
    from rnnzoo.io import atomic_write_json
    from rnnzoo.provenance import provenance

    names = [m for m in args.mixers.split(",") if m in mixers.names()]
    skipped = [m for m in args.mixers.split(",") if m not in names]
    if args.context:
        run_context(args, names)
        if skipped:
            print(f"not registered here, skipped: {', '.join(skipped)}")
        return
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
