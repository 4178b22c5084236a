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

Resuming: a RecBole run here can outlast a working session (BERT4Rec's epoch is minutes of one core and it trains
for many), so each run saves, after every evaluated epoch, everything needed to go on exactly where it stands:
RecBole's own checkpoint fields (epoch, early-stopping counter, best valid score, model and optimizer state), the
best valid result and epoch, the states of every random generator it draws from (Python's ``random``, which
BERT4Rec's masking uses, numpy, torch and the training loader's own shuffle generator) and the wall and CPU seconds
spent so far. A later ``run.py`` with the same model and seed loads it and continues with the next epoch: the
same sequence of batches, masks and dropout as a run that was never stopped. The files live in
``results/rec/recbole_peer_resume/`` (``{model}_s{seed}.resume.pth`` and the best-valid weights ``.best.pth``)
so that they can be committed between sessions; they are deleted when the run's row is written. The row records
the number of sessions (``segments``); wall and CPU seconds are the sums over them.

Checkpoints: RecBole pickles its whole checkpoint (config object included) and reloads it for the test
evaluation; torch >= 2.6 defaults ``torch.load`` to ``weights_only=True``, which refuses it, so this script
sets ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` before torch is imported (RecBole's own call passes no option).
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path

os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] = "1"  # RecBole's pickled checkpoints (see module docstring)
os.environ.setdefault("OMP_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # rnnzoo.io / rnnzoo.provenance only (stdlib + torch): no rnnzoo dependency

import numpy as np  # noqa: E402
import recbole.model.sequential_recommender  # noqa: E402,F401  (its sine.py turns anomaly detection on)
import torch  # noqa: E402

from rnnzoo.io import append_jsonl, read_jsonl  # noqa: E402
from rnnzoo.provenance import provenance  # noqa: E402

torch.autograd.set_detect_anomaly(False)  # RecBole's sine.py turned it on at import: changes no number, only time

OUT = ROOT / "results" / "rec" / "recbole_peer.jsonl"
EPOCHS_OUT = ROOT / "results" / "rec" / "recbole_peer_epochs.jsonl"
RESUME_DIR = ROOT / "results" / "rec" / "recbole_peer_resume"  # committed between sessions; emptied as runs finish

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

    def __init__(self, path: Path, progress: Path | None = None, key: dict | None = None, append: bool = False,
                 offset: dict | None = None):
        super().__init__(logging.INFO)
        self.epoch, self.best_epoch, self.epochs = None, None, 0
        self.file = open(path, "a" if append else "w")
        self.progress, self.key, self.train_seconds = progress, key or {}, None
        self.start, self.offset = time.perf_counter(), offset or {"wall": 0.0, "cpu": 0.0}
        self.cpu_start = time.process_time()

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
                                             "elapsed_seconds": self.offset["wall"] + time.perf_counter() - self.start,
                                             "cpu_seconds": self.offset["cpu"] + time.process_time() - self.cpu_start,
                                             "uptime": _uptime()})
        elif msg.startswith("Saving current") and self.epoch is not None:
            self.best_epoch = self.epoch


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def _rng_states(train_data) -> dict:
    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state(),
            "loader": train_data.generator.get_state()}


def _set_rng_states(states: dict, train_data) -> None:
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
    torch.set_rng_state(states["torch"])
    train_data.generator.set_state(states["loader"])


def _atomic_save(obj, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp, pickle_protocol=4)
    os.replace(tmp, path)


def _state_files(resume_dir: Path, model: str, seed: int) -> tuple[Path, Path]:
    """(resume state, best-valid weights) of an unfinished run."""
    return resume_dir / f"{model}_s{seed}.resume.pth", resume_dir / f"{model}_s{seed}.best.pth"


def _load_state(path: Path, overrides: dict) -> dict | None:
    """The saved state of an unfinished run, or None; refuses a damaged file or one saved under other settings."""
    if not path.exists():
        return None
    try:
        state = torch.load(path, weights_only=False)
    except Exception as e:  # noqa: BLE001 (any unpickling failure means the same thing here)
        raise SystemExit(f"{path}: cannot read this resume file ({type(e).__name__}: {e}); delete it to start the run "
                         f"over") from None
    saved = state.get("config_overrides")  # absent in the states of the first resumable runs (same settings)
    if saved is not None and saved != overrides:
        raise SystemExit(f"{path} was saved under other settings ({saved}) than this run's ({overrides}); delete it "
                         f"to start the run over")
    return state


def run_one(model: str, seed: int, command: str, progress: Path | None = None, resume_dir: Path = RESUME_DIR) -> dict:
    """One RecBole run of ``model`` at ``seed`` (``run_recbole``'s steps, resumable, see the module docstring) ->
    the JSONL row (per-epoch rows to ``progress``)."""
    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.data.transform import construct_transform
    from recbole.utils import get_flops, get_model, get_trainer, init_logger, init_seed

    log_dir = ROOT / "runs" / "recbole_peer"
    log_dir.mkdir(parents=True, exist_ok=True)
    resume_dir.mkdir(parents=True, exist_ok=True)
    resume_file, best_file = _state_files(resume_dir, model, seed)
    settings = {**OVERRIDES, "seed": seed}
    state = _load_state(resume_file, settings)
    done = state["elapsed"] if state else {"wall": 0.0, "cpu": 0.0, "segments": 0}
    handler = _Epochs(log_dir / f"{model}_s{seed}.log", progress, {"library": "recbole", "model": model, "seed": seed},
                      append=state is not None, offset=done)
    if state:
        handler.best_epoch, handler.epochs = state["best_epoch"], state["epoch"] + 1
    root = logging.getLogger()
    root.setLevel(logging.INFO)  # RecBole's init_logger (logging.basicConfig) then adds nothing: we log to file
    root.addHandler(handler)
    os.chdir(log_dir)  # RecBole writes ./log and ./log_tensorboard under the working directory
    load_before = _uptime()
    start, cpu_start = time.perf_counter(), time.process_time()
    try:
        # run_recbole's steps, in its order (its seeding and its FLOPs pass included, so the random streams match)
        config = Config(model=model, dataset="ml-100k", config_dict=settings)
        init_seed(config["seed"], config["reproducibility"])
        init_logger(config)
        dataset = create_dataset(config)
        train_data, valid_data, test_data = data_preparation(config, dataset)
        init_seed(config["seed"] + config["local_rank"], config["reproducibility"])
        net = get_model(config["model"])(config, train_data._dataset).to(config["device"])
        get_flops(net, dataset, config["device"], logging.getLogger(), construct_transform(config))
        trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, net)
        trainer.saved_model_file = str(best_file)  # RecBole saves the best-valid checkpoint here
        if state:
            trainer.start_epoch, trainer.cur_step = state["epoch"] + 1, state["cur_step"]
            trainer.best_valid_score, trainer.best_valid_result = state["best_valid_score"], state["best_valid_result"]
            net.load_state_dict(state["state_dict"])
            trainer.optimizer.load_state_dict(state["optimizer"])
            _set_rng_states(state["rng"], train_data)
            logging.getLogger().info(f"resumed from {resume_file} at epoch {trainer.start_epoch}")

        def save(epoch_idx: int, valid_score: float) -> None:  # after every evaluated epoch
            _atomic_save({"epoch": epoch_idx, "cur_step": trainer.cur_step, "best_valid_score": trainer.best_valid_score,
                          "best_valid_result": trainer.best_valid_result, "best_epoch": handler.best_epoch,
                          "state_dict": net.state_dict(), "optimizer": trainer.optimizer.state_dict(),
                          "rng": _rng_states(train_data), "config_overrides": settings,
                          "elapsed": {"wall": done["wall"] + time.perf_counter() - start,
                                      "cpu": done["cpu"] + time.process_time() - cpu_start,
                                      "segments": done["segments"] + 1}}, resume_file)

        stopped = state is not None and (state["cur_step"] > config["stopping_step"]
                                         or state["epoch"] + 1 >= config["epochs"])  # ended, row not yet written
        if not stopped:
            trainer.fit(train_data, valid_data, saved=True, show_progress=False, callback_fn=save)
        test = trainer.evaluate(test_data, load_best_model=True, model_file=str(best_file), show_progress=False)
        valid = trainer.best_valid_result
    finally:
        root.removeHandler(handler)
        handler.file.close()
    wall = done["wall"] + time.perf_counter() - start
    cpu = done["cpu"] + time.process_time() - cpu_start
    return {"library": "recbole", "model": model, "seed": seed,
           "test": {k: float(test[k]) for k in ("hit@10", "ndcg@10", "mrr@10")},
           "valid": {k: float(valid[k]) for k in ("hit@10", "ndcg@10", "mrr@10")},
           "best_epoch": None if handler.best_epoch is None else handler.best_epoch + 1,  # 1-based, as rnnzoo
           "epochs": handler.epochs, "wall_seconds": wall, "cpu_seconds": cpu, "segments": done["segments"] + 1,
           "anomaly_detection": torch.is_anomaly_enabled(),
           "uptime_before": load_before, "uptime_after": _uptime(),
           "config_overrides": settings, "command": command,
           "recbole": __import__("recbole").__version__, "provenance": provenance()}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["GRU4Rec", "SASRec", "BERT4Rec"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--progress", type=Path, default=EPOCHS_OUT, help="per-epoch rows (a stopped run still leaves them)")
    p.add_argument("--resume-dir", type=Path, default=RESUME_DIR, help="where unfinished runs keep their state")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    command = "OMP_NUM_THREADS=1 nice -n 10 " + " ".join([sys.executable, *sys.argv])
    done = {(r["model"], r["seed"]) for r in read_jsonl(args.out, print)} if args.out.exists() else set()
    for model in args.models:
        for seed in args.seeds:
            if (model, seed) in done:
                continue
            row = run_one(model, seed, command, args.progress, args.resume_dir)
            append_jsonl(args.out, row)
            for path in _state_files(args.resume_dir, model, seed):  # the row holds the result now
                path.unlink(missing_ok=True)
            print(model, seed, row["test"], "best epoch", row["best_epoch"], f"{row['wall_seconds']:.0f} s", flush=True)


if __name__ == "__main__":
    main()
