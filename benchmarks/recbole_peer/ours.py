"""rnnzoo's side of the RecBole comparison: ``rnnzoo rec`` at its defaults, measured as the peer is, and the table.

```bash
OMP_NUM_THREADS=1 nice -n 10 python benchmarks/recbole_peer/ours.py --models gru4rec --seeds 0 1 2   # run, resumable
python benchmarks/recbole_peer/ours.py --table     # ours vs results/rec/recbole_peer.jsonl, Markdown
```

Each (model, seed) is ``train_rec`` at the defaults (one thread) and appends one row to
``results/rec/rnnzoo_peer.jsonl``: test HR/NDCG/MRR@10, best-valid epoch, wall and process CPU time, ``uptime`` before and
after (run it right after the peer's rows of the same model, so that both sides meet the same load),
provenance and the exact command. Rows already there are skipped.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OURS = ROOT / "results" / "rec" / "rnnzoo_peer.jsonl"
PEER = ROOT / "results" / "rec" / "recbole_peer.jsonl"
NAMES = {"gru4rec": "GRU4Rec", "sasrec": "SASRec", "bert4rec": "BERT4Rec"}  # ours -> RecBole's model name
METRICS = ("hit@10", "ndcg@10", "mrr@10")


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def run(models: list[str], seeds: list[int], out: Path) -> None:
    import torch

    from rnnzoo.apps.rec import RecTrainConfig, load_data, train_rec
    from rnnzoo.config_args import override
    from rnnzoo.io import append_jsonl, read_jsonl
    from rnnzoo.provenance import provenance

    torch.set_num_threads(1)
    command = "OMP_NUM_THREADS=1 nice -n 10 python " + " ".join(sys.argv)
    done = {(r["model"], r["seed"]) for r in read_jsonl(out, print)} if out.exists() else set()
    data = None
    for model in models:
        for seed in seeds:
            if (model, seed) in done:
                continue
            cfg = override(RecTrainConfig(), arch=model, seed=seed, progress=False)
            before = _uptime()
            data = data or load_data(cfg)
            cpu = time.process_time()
            r = train_rec(data, cfg)
            cpu = time.process_time() - cpu
            append_jsonl(out, {"library": "rnnzoo", "model": model, "seed": seed,
                               "test": {k: r["test"][k] for k in METRICS}, "valid": {k: r["valid"][k] for k in METRICS},
                               "best_epoch": r["best_epoch"], "epochs": r["epochs"], "wall_seconds": r["wall_seconds"],
                               "cpu_seconds": cpu,
                               "uptime_before": before, "uptime_after": _uptime(), "command": command,
                               "run_config": r["run_config"], "provenance": provenance()})
            print(model, seed, r["test"]["ndcg@10"], f"{r['wall_seconds']:.0f} s", flush=True)


def _mean_sd(xs: list[float], fmt: str) -> str:
    if not xs:
        return "-"
    sd = statistics.stdev(xs) if len(xs) > 1 else 0.0
    return f"{format(statistics.mean(xs), fmt)} ± {format(sd, fmt)}"


TABLE_HEAD = ("| model | seeds RecBole; rnnzoo | test NDCG@10 RecBole | rnnzoo | ours / RecBole | test HR@10 RecBole "
              "| rnnzoo | best epoch / run RecBole; rnnzoo | wall s RecBole | rnnzoo | wall ours / RecBole | CPU ours / RecBole |")


def table(ours: Path, peer: Path) -> str:
    """Markdown, one row per model: each library's test NDCG@10 and HR@10 (mean ± sample std over its seeds),
    best epochs and mean wall time; the ratios are over the seeds both libraries have ("-" if none), the CPU-time
    ratio over those whose rows both record process CPU seconds (wall time depends on the machine's load, CPU
    time much less)."""
    from rnnzoo.io import read_jsonl

    rows = [r for p in (ours, peer) if p.exists() for r in read_jsonl(p, print)]
    lines = [TABLE_HEAD, "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for ours_name, peer_name in NAMES.items():
        by = {lib: {r["seed"]: r for r in rows if r["library"] == lib and r["model"] == name}
              for lib, name in (("recbole", peer_name), ("rnnzoo", ours_name))}
        if not any(by.values()):
            continue
        common = sorted(set(by["recbole"]) & set(by["rnnzoo"]))

        def ratio(get, seeds=common) -> str:
            if not seeds:
                return "-"
            return f"{statistics.mean(get(by['rnnzoo'][s]) for s in seeds) / statistics.mean(get(by['recbole'][s]) for s in seeds):.2f}"

        timed = [s for s in common if all(by[lib][s].get("cpu_seconds") is not None for lib in by)]

        def cells(get, fmt) -> list[str]:
            return [_mean_sd([get(r) for r in by[lib].values()], fmt) for lib in ("recbole", "rnnzoo")]

        ndcg, hit = cells(lambda r: r["test"]["ndcg@10"], ".4f"), cells(lambda r: r["test"]["hit@10"], ".4f")
        wall = [f"{statistics.mean(r['wall_seconds'] for r in by[lib].values()):.0f}" if by[lib] else "-"
                for lib in ("recbole", "rnnzoo")]
        seeds = "; ".join(",".join(map(str, sorted(by[lib]))) or "-" for lib in ("recbole", "rnnzoo"))
        epochs = "; ".join(", ".join(f"{r['best_epoch']}/{r['epochs']:g}" for _, r in sorted(by[lib].items())) or "-"
                           for lib in ("recbole", "rnnzoo"))
        lines.append(f"| {ours_name} | {seeds} | {ndcg[0]} | {ndcg[1]} | {ratio(lambda r: r['test']['ndcg@10'])} "
                     f"| {hit[0]} | {hit[1]} | {epochs} | {wall[0]} | {wall[1]} | {ratio(lambda r: r['wall_seconds'])} "
                     f"| {ratio(lambda r: r['cpu_seconds'], timed)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=list(NAMES), choices=list(NAMES))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--out", type=Path, default=OURS)
    p.add_argument("--peer", type=Path, default=PEER)
    p.add_argument("--table", action="store_true", help="print the table from both files and stop")
    args = p.parse_args(argv)
    if not args.table:
        run(args.models, args.seeds, args.out)
    print(table(args.out, args.peer))


if __name__ == "__main__":
    main()
