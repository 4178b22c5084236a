"""Warm and cold-start HR/NDCG@10 of ID and text recommenders on ml-100k, over seeds; prints a Markdown table.

    nice -n 10 python benchmarks/rec_cold.py --out results/rec/cold.jsonl            # run (resumable), then table
    python benchmarks/rec_cold.py --out results/rec/cold.jsonl --table                # table only

Besides HR/NDCG@10 over all, warm-target and cold-target users, the table gives the median rank of the
targets as a fraction of the catalogue (0 first, 1 last, random about 0.5; mean over seeds): a cold item is
rarely in anyone's top 10, so this shows whether a model ranks cold items better than chance at all.

Every run is ``train_rec`` under the cold-start protocol (``--cold-items`` of the items held out of every
training history, drawn with cold_seed 0, the same for every model and seed), one thread. Each finished run
appends one JSON line (model, seed, the run's settings, test / test_warm / test_cold metrics, provenance) to
``--out``; a run skips the (model, seed, settings) already there (checked before each run, so two processes
with the models in opposite orders can share a file), so an interrupted run loses at most the run in
progress. Runs go seed by seed, so a partial file has every model at the lower seeds.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import torch
from seed_runs import by_row, mean_sd, pending, rec_row

MODELS = {  # row name -> the `rnnzoo rec` fields of that model
    "pop": {"arch": "pop"},
    "gru4rec": {"arch": "gru4rec"},
    "sasrec": {"arch": "sasrec"},
    "bert4rec": {"arch": "bert4rec"},
    "gru-text": {"encoder": "gru", "items": "text"},
    "recformer": {"arch": "recformer"},
}


def settings(args: argparse.Namespace) -> dict:
    return {"epochs": args.epochs, "patience": args.patience, "cold_items": args.cold_items}


def run(args: argparse.Namespace) -> None:
    from rnnzoo.apps.rec import RecTrainConfig, load_data, train_rec
    from rnnzoo.config_args import override
    from rnnzoo.provenance import provenance

    torch.set_num_threads(1)
    data = None
    for seed, row in pending(args.out, args.seeds, args.models, settings(args)):
        cfg = override(RecTrainConfig(), **MODELS[row], seed=seed, epochs=args.epochs,
                       early_stop_patience=args.patience, cold_items=args.cold_items, progress=False)
        data = data or load_data(cfg)
        print(f"== {row} seed {seed}", flush=True)
        r = train_rec(data, cfg)
        record = {"row": row, "seed": seed, "settings": settings(args), "provenance": provenance(),
                  **{k: r[k] for k in ("model", "params", "wall_seconds", "test", "test_warm", "test_cold",
                                       "test_users", "cold_items", "median_rank")},
                  "best_epoch": r.get("best_epoch"), "epochs": r.get("epochs")}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with open(args.out, "a") as f:
            f.write(json.dumps(record) + "\n")
        print(f"   warm ndcg@10 {r['test_warm']['ndcg@10']:.4f}  cold ndcg@10 {r['test_cold']['ndcg@10']:.4f}  "
              f"{r['wall_seconds']:.0f}s", flush=True)


def table(path: Path) -> str:
    rows = by_row(path)

    def cell(rs, split, metric):
        return mean_sd([r[split][metric] for r in rs])

    def median(rs, group):
        xs = [r["median_rank"][group] for r in rs if r.get("median_rank")]
        return f"{statistics.mean(xs):.3f}" if xs else "-"

    lines = ["| model | seeds | all HR@10 | all NDCG@10 | warm HR@10 | warm NDCG@10 | cold HR@10 | cold NDCG@10 "
             "| median rank warm / cold | best epoch / run | params | wall s (mean) |", "|---|---|" + "---|" * 10]
    for name in [m for m in MODELS if m in rows]:
        rs = rows[name]
        cells = [cell(rs, s, m) for s in ("test", "test_warm", "test_cold") for m in ("hit@10", "ndcg@10")]
        cells.append(f"{median(rs, 'warm')} / {median(rs, 'cold')}")
        lines.append(rec_row(name, rs, cells))
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("results/rec/cold.jsonl"), help="append-only JSONL")
    parser.add_argument("--models", type=lambda s: s.split(","), default=list(MODELS),
                        help=f"comma-separated rows of {list(MODELS)}")
    parser.add_argument("--seeds", type=lambda s: [int(x) for x in s.split(",")], default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=10, help="epoch cap of every learned run")
    parser.add_argument("--patience", type=int, default=3, help="early-stopping patience (epochs)")
    parser.add_argument("--cold-items", type=float, default=0.2, help="fraction of items held out of training")
    parser.add_argument("--table", action="store_true", help="print the table of --out without running")
    args = parser.parse_args()
    if not args.table:
        run(args)
    print(table(args.out))
