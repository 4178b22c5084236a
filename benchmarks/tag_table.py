"""The `rnnzoo tag` table: every (mixer, global context on/off, seed) trained with the defaults, one JSON line
each appended to ``--out`` (rows already there are skipped, so an interrupted run resumes), then a markdown
table of mean ± sample std over seeds: accuracy, macro F1 and per-tag F1 on the test files. One thread.

    nice -n 10 python benchmarks/tag_table.py --out results/tagging/runs.jsonl
    python benchmarks/tag_table.py --out results/tagging/runs.jsonl --table-only
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
from collections import defaultdict
from pathlib import Path

from seed_runs import mean_sd, records


def run_all(out: Path, encoders, seeds) -> None:
    import torch

    from rnnzoo.apps.tagging import TagTrainConfig, train_tagger
    from rnnzoo.config_args import override
    from rnnzoo.provenance import provenance

    torch.set_num_threads(1)
    done = {(r["mixer"], r["global_context"], r["seed"]) for r in records(out)}
    for seed, mixer, context in itertools.product(seeds, encoders, (False, True)):  # a partial run covers all
        if (mixer, context, seed) in done:
            continue
        r = train_tagger(override(TagTrainConfig(), mixer=mixer, global_context=context, seed=seed, progress=False))
        row = {**{k: r[k] for k in ("mixer", "global_context", "seed", "test", "valid", "params", "steps",
                                    "train_seconds", "files", "chars", "config")}, "provenance": provenance()}
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("a") as f:
            f.write(json.dumps(row) + "\n")
        print(f"{mixer} context={context} seed {seed}: macro F1 {r['test']['macro_f1']:.4f}", flush=True)


def table(rows: list[dict]) -> str:
    groups = defaultdict(list)
    for r in rows:
        groups[(r["mixer"], r["global_context"])].append(r["test"])

    tags = list(rows[0]["test"]["f1"]) if rows else []
    lines = ["| mixer | global context | seeds | accuracy | macro F1 | " + " | ".join(f"F1 {t}" for t in tags) + " |",
             "|---|---|---|---|---|" + "---|" * len(tags)]
    for (mixer, context), ms in sorted(groups.items()):
        lines.append(f"| {mixer} | {'on' if context else 'off'} | {len(ms)} | {mean_sd([m['accuracy'] for m in ms])} | "
                     f"{mean_sd([m['macro_f1'] for m in ms])} | "
                     + " | ".join(f"{statistics.mean(m['f1'][t] for m in ms):.3f}" for t in tags) + " |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("bench_results/tagging.jsonl"))
    p.add_argument("--mixers", default="lstm,gru")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--table-only", action="store_true")
    args = p.parse_args()
    if not args.table_only:
        run_all(args.out, args.mixers.split(","), [int(s) for s in args.seeds.split(",")])
    print(table(records(args.out)))


if __name__ == "__main__":
    main()
