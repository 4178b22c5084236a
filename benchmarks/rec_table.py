"""Markdown table of `rnnzoo rec` results over seeds: mean ± sample std of the test metrics, wall time.

    python benchmarks/rec_table.py runs/rec        # reads runs/rec/<name>_s<seed>/results.json
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
from collections import defaultdict
from pathlib import Path

from seed_runs import mean_sd, rec_row

METRICS = ("hit@10", "ndcg@10", "mrr@10", "hit@20", "ndcg@20")


def table(root: Path) -> str:
    runs = defaultdict(list)
    for path in sorted(root.glob("*_s*/results.json")):
        name = re.sub(r"_s\d+$", "", path.parent.name)
        runs[name].append(json.loads(path.read_text()))
    lines = ["| model | seeds | " + " | ".join(m.upper().replace("HIT", "HR") for m in METRICS)
             + " | best epoch (of run) | params | wall s (mean) |",
             "|---|---|" + "---|" * len(METRICS) + "---|---|---|"]
    for name, rs in sorted(runs.items(), key=lambda kv: statistics.mean(r["test"]["ndcg@10"] for r in kv[1])):
        cells = [mean_sd([r["test"][m] for r in rs]) for m in METRICS]
        lines.append(rec_row(name, rs, cells))
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("root", type=Path)
    print(table(parser.parse_args().root))
