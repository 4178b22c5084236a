"""The `rnnzoo tpp` table: every (process, head, mixer, seed) trained with the defaults, one JSON line each
appended to ``--out`` (rows already there are skipped, so an interrupted run resumes), then a markdown table
of mean ± sample std over seeds next to the true process. One thread.

    nice -n 10 python benchmarks/tpp_table.py --out results/tpp/runs.jsonl
    python benchmarks/tpp_table.py --out results/tpp/runs.jsonl --table-only
"""

from __future__ import annotations

import argparse
import itertools
import json
from collections import defaultdict
from pathlib import Path

from seed_runs import mean_sd, records


def run_all(out: Path, processes, heads, encoders, seeds) -> None:
    import torch

    from rnnzoo.apps.tpp import TPPTrainConfig, train_tpp
    from rnnzoo.config_args import override
    from rnnzoo.provenance import provenance

    torch.set_num_threads(1)
    done = {(r["process"], r["head"], r["mixer"], r["seed"]) for r in records(out)}
    # seeds outermost: a partial run still covers every model
    for seed, process, head, mixer in itertools.product(seeds, processes, heads, encoders):
        if (process, head, mixer, seed) in done:
            continue
        r = train_tpp(override(TPPTrainConfig(), process=process, head=head, mixer=mixer, seed=seed, progress=False))
        row = {"process": process, "head": head, "mixer": mixer, "seed": seed,
               **{k: r[k] for k in ("test", "true", "ll_gap", "params", "steps", "integral", "train_seconds",
                                    "config")}, "provenance": provenance()}
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("a") as f:
            f.write(json.dumps(row) + "\n")
        print(f"{process} {head} {mixer} seed {seed}: ll {r['test']['ll_per_event']:.4f} "
              f"(true {r['true']['ll_per_event']:.4f})", flush=True)


def table(rows: list[dict]) -> str:
    groups = defaultdict(list)
    for r in rows:
        groups[(r["process"], r["head"], r["mixer"])].append(r)

    lines = ["| process | model | seeds | test ll/event | gap to true | RMSE | mark acc. | params |",
             "|---|---|---|---|---|---|---|---|"]
    for process in sorted({k[0] for k in groups}):
        true = next(r["true"] for k, rs in groups.items() if k[0] == process for r in rs)
        lines.append(f"| {process} | **true process** | - | {true['ll_per_event']:.4f} | 0 | {true['rmse']:.4f} | "
                     f"{true['mark_accuracy']:.4f} | - |")
        for (p, head, mixer), rs in sorted(groups.items()):
            if p != process:
                continue
            t = [r["test"] for r in rs]
            lines.append(f"| {process} | {head} / {mixer} | {len(rs)} | {mean_sd([x['ll_per_event'] for x in t])} | "
                         f"{mean_sd([r['ll_gap'] for r in rs])} | {mean_sd([x['rmse'] for x in t])} | "
                         f"{mean_sd([x['mark_accuracy'] for x in t])} | {rs[0]['params']:,} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("bench_results/tpp.jsonl"))
    p.add_argument("--processes", default="hawkes,self_correcting")
    p.add_argument("--heads", default="rmtpp,nhp")
    p.add_argument("--mixers", default="gru,attention,mamba")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--table-only", action="store_true")
    args = p.parse_args()
    if not args.table_only:
        run_all(args.out, args.processes.split(","), args.heads.split(","), args.mixers.split(","),
                [int(s) for s in args.seeds.split(",")])
    print(table(records(args.out)))


if __name__ == "__main__":
    main()
