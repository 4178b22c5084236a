"""The RecBole peer: RecBole 1.2.1's own ``run_recbole`` on the ml-100k in its wheel, one model and seed at a time.

Runs in the peer environment (``bash benchmarks/recbole_peer/setup.sh``), never rnnzoo's:

```bash
OMP_NUM_THREADS=1 nice -n 10 benchmarks/recbole_peer/.venv/bin/python benchmarks/recbole_peer/run.py \
    --models GRU4Rec SASRec BERT4Rec --seeds 0 1 2        # appends to results/rec/recbole_peer.jsonl
```

Each finished (model, seed) appends one row (test HR/NDCG/MRR@10, best-valid epoch, wall time, ``uptime``,
provenance, the exact command); rows already in the file are skipped, so the run is resumable.

Configuration: RecBole's defaults (``overall.yaml``, the model's yaml, ``quick_start_config/sequential.yaml``:
split LS valid_and_test, order TO, mode full; MAX_ITEM_LIST_LENGTH 50; epochs 300, stopping_step 10,
train_batch_size 2048, Adam lr 1e-3, no weight decay, no gradient clipping; CE over all items) except
``OVERRIDES`` below, each with its reason.

Anomaly detection: RecBole's ``model/sequential_recommender/sine.py`` calls
``torch.autograd.set_detect_anomaly(True)`` at import, and ``recbole.model.sequential_recommender`` imports every
model, so every sequential model (GRU4Rec, SASRec, BERT4Rec included) trains under autograd's anomaly mode:
a Python stack trace recorded per autograd node (the CPU GRU has one per time step) and a NaN check of every
gradient. It changes no number (same losses and metrics, measured) and doubles GRU4Rec's epoch, so this
script imports that package first and switches the mode off (the row records ``anomaly_detection``).

Progress: every evaluated epoch also appends a row to ``results/rec/recbole_peer_epochs.jsonl`` (train and
eval seconds, process CPU seconds, valid NDCG@10), so a run stopped before its end still leaves a record.

Checkpoints: RecBole pickles its whole checkpoint (config object included) and reloads it for the test
evaluation; torch >= 2.6 defaults ``torch.load`` to ``weights_only=True``, which refuses it, so this script
sets ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` before torch is imported (RecBole's own call passes no option).
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import subprocess
import sys
import time
from pathlib import Path

os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] = "1"  # RecBole's pickled checkpoints (see module docstring)
os.environ.setdefault("OMP_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # rnnzoo.io / rnnzoo.provenance only (stdlib + torch): no rnnzoo dependency

import recbole.model.sequential_recommender  # noqa: E402,F401  (its sine.py turns anomaly detection on)
import torch  # noqa: E402
from recbole.quick_start import run_recbole  # noqa: E402

from rnnzoo.io import append_jsonl, read_jsonl  # noqa: E402
from rnnzoo.provenance import provenance  # noqa: E402

torch.autograd.set_detect_anomaly(False)  # RecBole's sine.py turned it on at import: changes no number, only time

OUT = ROOT / "results" / "rec" / "recbole_peer.jsonl"
EPOCHS_OUT = ROOT / "results" / "rec" / "recbole_peer_epochs.jsonl"

# Every value that differs from RecBole 1.2.1's defaults, and why.
OVERRIDES = {
    "train_neg_sample_args": None,  # required: RecBole raises on loss_type CE with its default negative sampling
    "valid_metric": "NDCG@10",      # default MRR@10; the comparison (and rnnzoo's early stopping) is on NDCG@10
    "metrics": ["Hit", "NDCG", "MRR"],  # default also Recall and Precision (Recall@10 = Hit@10 with one target)
    "topk": [10],                   # the default, stated for the record
    "use_gpu": False,               # default True; the comparison is one CPU thread on both sides
    "show_progress": False,         # default True; progress bars only
    "checkpoint_dir": str(ROOT / "runs" / "recbole_peer" / "saved"),  # default ./saved; keeps the tree clean
    # "seed": set per run (default 2020) so that the peer has 3 seeds like rnnzoo
}


class _Epochs(logging.Handler):
    """Reads RecBole's log lines: the epoch of the last evaluation that saved a new best checkpoint."""

    def __init__(self, path: Path, progress: Path | None = None, key: dict | None = None):
        super().__init__(logging.INFO)
        self.epoch, self.best_epoch, self.epochs = None, None, 0
        self.file = open(path, "w")
        self.progress, self.key, self.train_seconds = progress, key or {}, None
        self.start = time.perf_counter()

    def emit(self, record: logging.LogRecord) -> None:
        msg = re.sub(r"\x1b\[[0-9;]*m", "", record.getMessage())  # RecBole's set_color codes
        self.file.write(msg + "\n")
        self.file.flush()
        if m := re.match(r"epoch (\d+) training \[time: ([\d.]+)s", msg):
            self.train_seconds = float(m.group(2))
        if re.match(r"epoch \d+ evaluating", msg):
            self.epoch = int(msg.split()[1])
            self.epochs = self.epoch + 1
            if self.progress is not None:
                m = re.search(r"time: ([\d.]+)s, valid_score: ([\d.]+)", msg)
                append_jsonl(self.progress, {**self.key, "epoch": self.epochs, "train_seconds": self.train_seconds,
                                             "eval_seconds": float(m.group(1)) if m else None,
                                             "valid_ndcg@10": float(m.group(2)) if m else None,
                                             "elapsed_seconds": time.perf_counter() - self.start,
                                             "cpu_seconds": time.process_time(), "uptime": _uptime()})
        elif msg.startswith("Saving current") and self.epoch is not None:
            self.best_epoch = self.epoch


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def run_one(model: str, seed: int, command: str, progress: Path | None = None) -> dict:
    """One ``run_recbole`` of ``model`` at ``seed`` -> the JSONL row (per-epoch rows to ``progress``)."""
    log_dir = ROOT / "runs" / "recbole_peer"
    log_dir.mkdir(parents=True, exist_ok=True)
    handler = _Epochs(log_dir / f"{model}_s{seed}.log", progress, {"library": "recbole", "model": model, "seed": seed})
    root = logging.getLogger()
    root.setLevel(logging.INFO)  # RecBole's init_logger (logging.basicConfig) then adds nothing: we log to file
    root.addHandler(handler)
    os.chdir(log_dir)  # RecBole writes ./log and ./log_tensorboard under the working directory
    load_before = _uptime()
    start, cpu_start = time.perf_counter(), time.process_time()
    try:
        out = run_recbole(model=model, dataset="ml-100k", config_dict={**OVERRIDES, "seed": seed})
    finally:
        root.removeHandler(handler)
        handler.file.close()
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    test, valid = dict(out["test_result"]), dict(out["best_valid_result"])
    return {"library": "recbole", "model": model, "seed": seed,
            "test": {k: float(test[k]) for k in ("hit@10", "ndcg@10", "mrr@10")},
            "valid": {k: float(valid[k]) for k in ("hit@10", "ndcg@10", "mrr@10")},
            "best_epoch": None if handler.best_epoch is None else handler.best_epoch + 1,  # 1-based, as rnnzoo
            "epochs": handler.epochs, "wall_seconds": wall, "cpu_seconds": cpu,
            "anomaly_detection": torch.is_anomaly_enabled(),
            "uptime_before": load_before, "uptime_after": _uptime(),
            "config_overrides": {**OVERRIDES, "seed": seed}, "command": command,
            "recbole": __import__("recbole").__version__, "provenance": provenance()}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["GRU4Rec", "SASRec", "BERT4Rec"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--progress", type=Path, default=EPOCHS_OUT, help="per-epoch rows (a stopped run still leaves them)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    command = "OMP_NUM_THREADS=1 nice -n 10 " + " ".join([sys.executable, *sys.argv])
    done = {(r["model"], r["seed"]) for r in read_jsonl(args.out, print)} if args.out.exists() else set()
    for model in args.models:
        for seed in args.seeds:
            if (model, seed) in done:
                continue
            row = run_one(model, seed, command, args.progress)
            append_jsonl(args.out, row)
            print(model, seed, row["test"], "best epoch", row["best_epoch"], f"{row['wall_seconds']:.0f} s", flush=True)


if __name__ == "__main__":
    main()
