"""Recommender options against the plain model on ml-100k, over seeds; prints a Markdown table.

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/rec_options.py --out results/rec/options.jsonl   # run, table
    python benchmarks/rec_options.py --out results/rec/options.jsonl --table                        # table only

Rows: the plain SASRec and SASRec with one option each (``RecConfig``): ICSRec's cross-subsequence intent
contrastive loss (``contrastive_weight``), DARE's decoupled attention and representation tables
(``decoupled``), ACT-R repeat-aware scoring (``actr``); the same for GRU4Rec (contrastive, ACT-R) when asked
for with ``--models``. Every run is ``train_rec`` under the standard leave-one-out full-ranking protocol, one
thread; each finished run appends one JSON line (row, seed, settings, valid/test metrics, the learned ACT-R
weight where there is one, provenance) to ``--out`` through ``rnnzoo.io.append_jsonl``, and a run skips the
(row, seed, settings) already there (checked before each run, and a run directory locked by a live process is skipped, so several processes can share the file). Runs go
seed by seed, so a partial file has every row at the lower seeds.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import torch
from seed_runs import by_row, done, mean_sd, pending, records

from rnnzoo.io import append_jsonl

MODELS = {  # row name -> the `rnnzoo rec` fields of that model
    "sasrec": {"arch": "sasrec"},
    "sasrec+icl": {"arch": "sasrec", "contrastive_weight": 0.1},
    "sasrec+dare": {"arch": "sasrec", "decoupled": True},
    "sasrec+actr": {"arch": "sasrec", "actr": True},
    "gru4rec": {"arch": "gru4rec"},
    "gru4rec+icl": {"arch": "gru4rec", "contrastive_weight": 0.1},
    "gru4rec+actr": {"arch": "gru4rec", "actr": True},
}
DEFAULT_ROWS = ["sasrec", "sasrec+icl", "sasrec+dare", "sasrec+actr"]
# the control for ACT-R on data without repeats: the plain run's weights, the items of its input window removed
# from the ranking (no training of its own)
SEEN_EXCLUDED = "sasrec, window items excluded"


def settings(args: argparse.Namespace) -> dict:
    return {"epochs": args.epochs, "patience": args.patience}


def run(args: argparse.Namespace) -> None:
    import safetensors.torch

    from rnnzoo.apps.rec import RecTrainConfig, load_data, train_rec
    from rnnzoo.config_args import override
    from rnnzoo.provenance import provenance

    torch.set_num_threads(1)
    data = None
    for seed, row in pending(args.out, args.seeds, args.models, settings(args)):
        out_dir = args.runs / f"{row}_s{seed}"
        cfg = override(RecTrainConfig(), **MODELS[row], seed=seed, epochs=args.epochs,
                       early_stop_patience=args.patience, progress=False, out_dir=str(out_dir), overwrite=True)
        data = data or load_data(cfg)
        print(f"== {row} seed {seed}", flush=True)
        try:
            r = train_rec(data, cfg)
        except ValueError as e:  # another process is training this (row, seed) now: leave it to that one
            if "is in use by" not in str(e):
                raise
            print(f"   skipped: {e}", flush=True)
            continue
        record = {"row": row, "seed": seed, "settings": settings(args), "provenance": provenance(),
                  **{k: r[k] for k in ("model", "params", "wall_seconds", "valid", "test")},
                  "best_epoch": r.get("best_epoch"), "epochs": r.get("epochs"), "config": r["config"]}
        if MODELS[row].get("actr"):  # the learned weight of the activation term, best-validation weights
            state = safetensors.torch.load_file(str(out_dir / "best.safetensors"))
            record["actr_weight"] = float(state["actr_weight"])
        append_jsonl(args.out, record)
        print(f"   test ndcg@10 {r['test']['ndcg@10']:.4f}  {r['wall_seconds']:.0f}s", flush=True)
    if "sasrec" in args.models:
        seen_excluded(args)


def seen_excluded(args: argparse.Namespace) -> None:
    """Append the ``SEEN_EXCLUDED`` row for every seed whose plain sasrec run has finished and has none yet."""
    from rnnzoo.apps.rec.batches import eval_batch
    from rnnzoo.apps.rec.metrics import rank_metrics, target_ranks
    from rnnzoo.apps.rec.recommend import load_recommender
    from rnnzoo.provenance import provenance

    key = json.dumps(settings(args), sort_keys=True)
    plain = {r["seed"]: r for r in records(args.out) if r["row"] == "sasrec" and json.dumps(r["settings"], sort_keys=True) == key}
    for seed in args.seeds:
        if seed not in plain or (SEEN_EXCLUDED, seed, key) in done(args.out):
            continue
        model, data = load_recommender(args.runs / f"sasrec_s{seed}")
        metrics = {}
        with torch.no_grad():
            for split in ("valid", "test"):
                seq, lengths, targets = eval_batch(data, split, None)
                scores = model.score(seq, lengths).float()
                scores.scatter_(1, seq, float("-inf"))  # the window's items (and the padding id 0) out
                metrics[split] = rank_metrics(target_ranks(scores, targets))
        record = {"row": SEEN_EXCLUDED, "seed": seed, "settings": settings(args), "provenance": provenance(),
                  **{k: plain[seed][k] for k in ("params", "wall_seconds", "best_epoch", "epochs", "config")},
                  "model": plain[seed]["model"], **metrics}
        append_jsonl(args.out, record)


def table(path: Path) -> str:
    rows = by_row(path)

    def cell(rs, split, metric):
        return mean_sd([r[split][metric] for r in rs])

    lines = ["| model | seeds | HR@10 | NDCG@10 | MRR@10 | HR@20 | NDCG@20 | valid NDCG@10 | ACT-R weight "
             "| best epoch / run | params | wall s (mean) |", "|---|---|" + "---|" * 10]
    for name in [m for m in [*MODELS, SEEN_EXCLUDED] if m in rows]:
        rs = sorted(rows[name], key=lambda r: r["seed"])
        cells = [cell(rs, "test", m) for m in ("hit@10", "ndcg@10", "mrr@10", "hit@20", "ndcg@20")]
        cells.append(cell(rs, "valid", "ndcg@10"))
        cells.append(", ".join(f"{r['actr_weight']:.2f}" for r in rs) if "actr_weight" in rs[0] else "-")
        epochs = ", ".join(f"{r['best_epoch']}/{r['epochs']:g}" for r in rs)
        wall = statistics.mean(r["wall_seconds"] for r in rs)
        lines.append(f"| {name} | {len(rs)} | " + " | ".join(cells) + f" | {epochs} | {rs[0]['params']:,} | {wall:.0f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("results/rec/options.jsonl"), help="append-only JSONL")
    parser.add_argument("--runs", type=Path, default=Path("runs/rec_options"), help="run directories (weights)")
    parser.add_argument("--models", type=lambda s: s.split(","), default=DEFAULT_ROWS,
                        help=f"comma-separated rows of {list(MODELS)}")
    parser.add_argument("--seeds", type=lambda s: [int(x) for x in s.split(",")], default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=10, help="epoch cap of every learned run")
    parser.add_argument("--patience", type=int, default=3, help="early-stopping patience (epochs)")
    parser.add_argument("--table", action="store_true", help="print the table of --out without running")
    args = parser.parse_args()
    if not args.table:
        run(args)
    print(table(args.out))
