"""Which registry mixers' LM step exports, and how exactly: for each causal mixer, a 2-layer d_model 32 LM
(seed 0) is exported (``rnnzoo.export.export_step``) to ONNX and to torch.export, and each file generates 64
greedy tokens against ``LanguageModel.step`` (``check_export``): the row records ok / refused / failed with the
reason and the largest logit difference. Resumable (one JSONL record per mixer and format, with provenance).

    python benchmarks/export_sweep.py                         # every causal mixer, both formats
    python benchmarks/export_sweep.py --mixers lstm,gla --formats onnx
    python benchmarks/export_sweep.py --table-only            # print docs/export.md's table from the results
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import torch

from rnnzoo import mixers
from rnnzoo.export import FORMATS, check_export, export_step
from rnnzoo.io import append_jsonl, read_jsonl
from rnnzoo.models.lm import LanguageModel, LMConfig
from rnnzoo.provenance import provenance

OUT = Path("results/export/sweep.jsonl")


def run_one(mixer: str, fmt: str, tokens: int) -> dict:
    torch.manual_seed(0)
    model = LanguageModel(LMConfig(vocab_size=50, mixer=mixer, n_layers=2, d_model=32)).eval()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ("step.onnx" if fmt == "onnx" else "step.pt2")
        try:
            export_step(model, path, fmt)
        except ValueError as e:
            status = "refused" if "grows with the sequence" in str(e) else "failed"
            return {"mixer": mixer, "format": fmt, "status": status, "reason": str(e),
                    "seconds": time.perf_counter() - start}
        try:
            diff = check_export(model, path, tokens)
        except AssertionError as e:
            return {"mixer": mixer, "format": fmt, "status": "differs", "reason": str(e),
                    "seconds": time.perf_counter() - start}
    return {"mixer": mixer, "format": fmt, "status": "ok", "max_abs_logit_diff": diff, "tokens": tokens,
            "seconds": time.perf_counter() - start}


def table(records: list[dict]) -> str:
    by = {(r["mixer"], r["format"]): r for r in records}
    names = sorted({r["mixer"] for r in records})
    lines = ["| mixer | " + " | ".join(FORMATS) + " |", "|---|" + "---|" * len(FORMATS)]
    for name in names:
        cells = []
        for fmt in FORMATS:
            r = by.get((name, fmt))
            if r is None:
                cells.append("not run")
            elif r["status"] == "ok":
                cells.append(f"ok, {r['max_abs_logit_diff']:.1e}")
            else:
                cells.append(f"{r['status']}: {r['reason'].split(': ', 1)[-1][:90]}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mixers", default=None, help="comma-separated (default: every causal registry mixer)")
    p.add_argument("--formats", default=",".join(FORMATS))
    p.add_argument("--tokens", type=int, default=64)
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--table-only", action="store_true")
    args = p.parse_args()
    if not args.table_only:
        torch.set_num_threads(1)
        warnings.filterwarnings("ignore")
        names = args.mixers.split(",") if args.mixers else [n for n in mixers.names() if mixers.get(n).causal]
        stamp = provenance()
        for name in names:
            for fmt in args.formats.split(","):
                done = {(r["mixer"], r["format"]) for r in read_jsonl(args.out, print)}
                if (name, fmt) in done:
                    continue
                record = run_one(name, fmt, args.tokens)
                append_jsonl(args.out, {**record, "provenance": stamp})
                print(f"{name} {fmt}: {record['status']} {record.get('max_abs_logit_diff', '')}", flush=True)
    print(table(read_jsonl(args.out, print)))


if __name__ == "__main__":
    main()
