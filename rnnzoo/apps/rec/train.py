"""Train and evaluate a sequential recommender on leave-one-out splits with the shared Trainer.

```python
config = RecTrainConfig(model=RecConfig(model="bert4rec"), epochs=50)   # or RecConfig(encoder="lstm")
result = train_rec(load_dataset(), config)                             # {"test": {"ndcg@10": ...}, ...}
```

One epoch = one pass over the training windows (``batches.train_windows``); validation every epoch;
early stopping on ``train.early_stop_metric`` (valid NDCG@10) after ``train.early_stop_patience`` epochs
without a gain (RecBole: stopping_step 10); the best-validation weights are kept (``best.safetensors``)
and scored on the test split.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import safetensors.torch
import torch

from rnnzoo.apps.rec.batches import eval_batch, mask_batch, train_windows
from rnnzoo.apps.rec.data import SequenceData
from rnnzoo.apps.rec.metrics import METRICS, rank_metrics, target_ranks
from rnnzoo.apps.rec.models import RecConfig, SeqRec, build_model
from rnnzoo.io import atomic_write_bytes, atomic_write_json
from rnnzoo.rundir import Run, open_run
from rnnzoo.train import Trainer, TrainConfig


def recbole_train() -> TrainConfig:
    """RecBole's sequential recipe: Adam at a constant lr 2e-3, betas (0.9, 0.999), no weight decay, early
    stopping on valid NDCG@10 (patience 5 epochs here); gradients clipped at norm 1."""
    return TrainConfig(lr=2e-3, weight_decay=0.0, betas=(0.9, 0.999), warmup_steps=0, min_lr_ratio=1.0,
                       grad_clip=1.0, early_stop_metric="ndcg@10", early_stop_patience=5)


@dataclass
class RecTrainConfig:
    model: RecConfig = field(default_factory=RecConfig, metadata={
        "help": "the recommender: model or encoder, objective, sizes, dropout (n_items, max_len: from the data)"})
    train: TrainConfig = field(default_factory=recbole_train, metadata={
        "help": "optimiser, seed, out_dir, progress; early_stop_patience counts epochs; eval_every and log_every "
                "are one epoch, and steps is epochs x windows per epoch unless epochs is None"})
    epochs: int | None = field(default=40, metadata={
        "help": "max epochs (early stopping on the valid metric); None: train.steps optimiser steps"})
    batch_size: int = field(default=64, metadata={"help": "training windows of max_len items per step"})

    def __post_init__(self) -> None:
        if self.train.resume:
            raise ValueError("rec runs cannot be resumed (the best epoch's weights are kept in memory); "
                             "start again with overwrite")
        if self.epochs is not None and self.epochs < 1:
            raise ValueError(f"epochs must be >= 1 or None, got {self.epochs}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.train.early_stop_metric not in METRICS:
            raise ValueError(f"train.early_stop_metric picks the best epoch and must be one of {METRICS}, "
                             f"got {self.train.early_stop_metric!r}")


@torch.no_grad()
def evaluate(model: torch.nn.Module, batch: tuple[torch.Tensor, ...], chunk: int = 1024) -> dict[str, float]:
    """Full ranking over all items for every user of an ``eval_batch``."""
    seq, lengths, targets = batch
    ranks = []
    for i in range(0, len(seq), chunk):
        n = int(lengths[i:i + chunk].max())
        ranks.append(target_ranks(model.score(seq[i:i + chunk, :n], lengths[i:i + chunk]), targets[i:i + chunk]))
    return rank_metrics(torch.cat(ranks))


def train_rec(data: SequenceData, config: RecTrainConfig | None = None) -> dict:
    """Train ``config.model`` on ``data`` and return the results dict (also written to ``out_dir/results.json``
    when ``config.train.out_dir`` is set): valid metrics at the best epoch, test metrics, wall time, sizes."""
    config = config or RecTrainConfig()
    with ExitStack() as stack:
        run = None
        if config.train.out_dir:
            run = stack.enter_context(open_run(config.train.out_dir, overwrite=config.train.overwrite))
        return _train_rec(data, config, run)


def _train_rec(data: SequenceData, config: RecTrainConfig, run: Run | None) -> dict:
    start = time.perf_counter()
    seed, out_dir = config.train.seed, config.train.out_dir
    torch.manual_seed(seed)
    model = dataclasses.replace(config.model, n_items=data.n_items, max_len=data.max_len)
    cloze = model.objective == "cloze"
    net = build_model(model, torch.as_tensor(data.item_popularity()))
    mask_token = model.mask_token if cloze and model.model != "pop" else None
    valid, test = eval_batch(data, "valid", mask_token), eval_batch(data, "test", mask_token)
    result = {"model": model.name, "dataset": {"users": data.n_users, "items": data.n_items,
              "interactions": int(sum(len(s) for s in data.sequences))}, "seed": seed,
              "params": sum(p.numel() for p in net.parameters())}
    if isinstance(net, SeqRec):
        result.update(_fit(net, data, valid, config, run))
    else:
        result["valid"] = evaluate(net, valid)
    net.eval()
    result["test"] = evaluate(net, test)
    result["wall_seconds"] = time.perf_counter() - start
    result["config"] = dataclasses.asdict(model)
    if out_dir:
        atomic_write_json(Path(out_dir) / "results.json", result)
    return result


def _fit(net: SeqRec, data: SequenceData, valid, config: RecTrainConfig, run: Run | None) -> dict:
    c, seed, out_dir = net.config, config.train.seed, config.train.out_dir
    metric, batch_size = config.train.early_stop_metric, config.batch_size
    inputs, lengths, labels = train_windows(data, c.objective == "cloze")
    n = len(inputs)
    per_epoch = math.ceil(n / batch_size)
    total = config.train.steps if config.epochs is None else config.epochs * per_epoch

    def batch_fn(step: int):
        epoch, i = divmod(step, per_epoch)
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))
        idx = order[i * batch_size: (i + 1) * batch_size]
        seq, lens, lab = inputs[idx], lengths[idx], labels[idx]
        if c.objective == "cloze":
            seq, lab = mask_batch(seq, lens, c.mask_ratio, c.mask_token,
                                  torch.Generator().manual_seed(seed * 1_000_003 + step + 7))
        t = int(lens.max())
        return seq[:, :t], lens, lab[:, :t]

    best = {"value": -1.0, "state": None, "epoch": 0}

    def eval_fn(model):
        metrics = evaluate(model, valid)
        if metrics[metric] > best["value"]:
            best.update({"value": metrics[metric], "state": copy.deepcopy(model.state_dict()),
                         "epoch": math.ceil(trainer.step / per_epoch), "valid": metrics})
            if out_dir:
                atomic_write_bytes(Path(out_dir) / "best.safetensors", safetensors.torch.save(best["state"]))
        return metrics

    cfg = dataclasses.replace(config.train, steps=total, eval_every=per_epoch, log_every=per_epoch)
    trainer = Trainer(net, cfg, batch_fn, lambda m, b: (m.loss(*b), {}), eval_fn, run=run)
    summary = trainer.fit()
    net.load_state_dict(best["state"])
    return {"valid": best["valid"], "best_epoch": best["epoch"], "epochs": round(summary["steps"] / per_epoch, 2),
            "steps": summary["steps"], "train_windows": n, "train_seconds": summary["train_seconds"],
            "final_loss": summary["final_loss"]}
