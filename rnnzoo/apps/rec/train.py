"""Train and evaluate a sequential recommender on leave-one-out splits with the shared Trainer.

```python
config = RecTrainConfig(model=RecConfig(arch="bert4rec"), epochs=50)   # or RecConfig(encoder="lstm")
result = train_rec(load_dataset(), config)                             # {"test": {"ndcg@10": ...}, ...}
result = train_rec(None, override(RecTrainConfig(), arch="gru4rec", steps=200, data="ratings.dat"))
```
(``override`` from ``rnnzoo.config_args`` changes fields by leaf name, as the ``rnnzoo rec`` flags do.)

One epoch = one pass over the training windows (``batches.train_windows``), so that each target is
predicted once; a cloze epoch is ``1 / mask_ratio`` passes (5), so that each target is masked about once (one
pass masks 20% of them: patience 30 of single passes stopped BERT4Rec on early noise); validation every epoch;
early stopping on ``train.early_stop_metric`` (valid NDCG@10) after ``train.early_stop_patience`` epochs
without a gain (RecBole: stopping_step 10); the best-validation weights are kept (``best.safetensors``)
and scored on the test split.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path

import safetensors.torch
import torch

from rnnzoo.apps.rec.batches import eval_batch, last_item_batch, mask_batch, next_item_examples, train_windows
from rnnzoo.apps.rec.data import SequenceData, load_dataset
from rnnzoo.apps.rec.metrics import METRICS, rank_metrics, target_ranks
from rnnzoo.apps.rec.models import RecConfig, SeqRec, build_model
from rnnzoo.apps.rec.recformer import Recformer
from rnnzoo.apps.rec.text import ItemTokens, tokenize_items
from rnnzoo.config_args import option
from rnnzoo.io import atomic_write_bytes
from rnnzoo.provenance import provenance
from rnnzoo.rundir import Run, open_train_run, write_results
from rnnzoo.train import TrainConfig, Trainer
from rnnzoo.train.device import model_device, to_device


def recbole_train() -> TrainConfig:
    """RecBole's sequential recipe: Adam at a constant lr 2e-3, betas (0.9, 0.999), no weight decay, early
    stopping on valid NDCG@10 after 30 epochs without a gain; gradients clipped at norm 1. RecBole's
    stopping_step is 10 of its epochs, but one of its epochs trains every prefix of every user (about 40x the
    masked targets of one of our single passes for BERT4Rec), so 10 single passes stopped BERT4Rec on noise at
    about pass 30 while it kept improving to pass 114 (docs/rec.md; a cloze epoch is now 5 passes, see the
    module docstring). ``steps`` is only a cap: ``RecTrainConfig.epochs`` ends a
    run first unless it is None or ``--steps`` is set lower."""
    return TrainConfig(steps=1_000_000, lr=2e-3, weight_decay=0.0, betas=(0.9, 0.999), warmup_steps=0,
                       min_lr_ratio=1.0, grad_clip=1.0, early_stop_metric="ndcg@10", early_stop_patience=30)


@dataclass
class RecTrainConfig:
    """The model and trainer configs nested, plus the data and the epoch loop. Training stops at whichever
    comes first of ``epochs`` (None: no limit) and ``train.steps``, or earlier by early stopping; the model's
    ``n_items`` and ``max_len`` come from the data."""

    model: RecConfig = option(factory=RecConfig)
    train: TrainConfig = option(factory=recbole_train)
    epochs: int | None = option(300, "max epochs (early stopping on valid NDCG@10 ends a run long before: "
                                     "RecBole's epochs 300, stopping_step 10); None: only train.steps limits")
    batch_size: int = option(64, "training windows of history_len items per step")
    data: str | None = option(None, ".inter, u.data, ratings.dat or ratings.csv; None: ml-100k shipped in the "
                                    "recbole wheel (train_rec's own data argument, when given, wins)")
    min_interactions: int = option(5, "drop users with fewer interactions")
    history_len: int = option(50, "most recent items per user the model reads (its max_len)")
    stride: int | None = option(None, "training windows of history_len items end every stride items, each "
                                      "target labelled once with >= history_len - stride items of history "
                                      "(RecBole's prefix examples give up to history_len) at history_len / "
                                      "stride times the cost of an epoch; None: history_len (disjoint windows, "
                                      "the most targets per unit of compute)")
    cold_items: float = option(0.0, "cold-start protocol: fraction of the items held out of every training history "
                                    "(0: the standard protocol); test metrics are then also reported over the "
                                    "users whose target is warm and cold")
    cold_seed: int = option(0, "seed of the held-out item draw (apart from --seed, so that every model and seed "
                               "meets the same cold items)")

    def __post_init__(self) -> None:
        if self.stride is not None and not 1 <= self.stride <= self.history_len:
            raise ValueError(f"stride must be in [1, history_len={self.history_len}], got {self.stride}")
        if self.train.resume:
            raise ValueError("rec runs cannot be resumed (the best epoch's weights are kept in memory); "
                             "start again with overwrite")
        if self.epochs is not None and self.epochs < 1:
            raise ValueError(f"epochs must be >= 1 or None, got {self.epochs}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if not 0 <= self.cold_items < 1:
            raise ValueError(f"cold_items must be in [0, 1), got {self.cold_items}")
        if self.train.early_stop_metric not in METRICS:
            raise ValueError(f"train.early_stop_metric picks the best epoch and must be one of {METRICS}, "
                             f"got {self.train.early_stop_metric!r}")


def load_data(config: RecTrainConfig) -> SequenceData:
    """The leave-one-out sequences that ``config.data``, ``min_interactions`` and ``history_len`` describe,
    under the cold-start protocol when ``config.cold_items`` > 0."""
    data = load_dataset(config.data, min_interactions=config.min_interactions, max_len=config.history_len)
    return data.with_cold_items(config.cold_items, config.cold_seed) if config.cold_items else data


def text_tokens(data: SequenceData, model: RecConfig) -> ItemTokens | None:
    """The word ids of every item sentence when ``model`` reads text (vocabulary from the training items)."""
    if not model.uses_text:
        return None
    if data.item_text is None:
        raise ValueError(f"{model.name} reads item text: give --data a directory (or .inter file) with a RecBole "
                         f".item file beside it")
    return tokenize_items(data.item_text, data.train_items(), model.item_words)


@torch.no_grad()
def ranks(model: torch.nn.Module, batch: tuple[torch.Tensor, ...], chunk: int = 1024) -> torch.Tensor:
    """0-based rank [U] of each target in a full ranking over all items, for every user of an ``eval_batch``."""
    seq, lengths, targets = to_device(batch, model_device(model))
    out = []
    for i in range(0, len(seq), chunk):
        n = int(lengths[i:i + chunk].max())
        out.append(target_ranks(model.score(seq[i:i + chunk, :n], lengths[i:i + chunk]), targets[i:i + chunk]))
    return torch.cat(out).cpu()


def evaluate(model: torch.nn.Module, batch: tuple[torch.Tensor, ...]) -> dict[str, float]:
    """Full-ranking metrics over every user of an ``eval_batch`` (moved to the model's device)."""
    return rank_metrics(ranks(model, batch))


def train_rec(data: SequenceData | None = None, config: RecTrainConfig | None = None) -> dict:
    """Train ``config.model`` on ``data`` (None: ``load_data(config)``) and return the results dict (also written to ``out_dir/results.json``
    when ``config.train.out_dir`` is set): valid metrics at the best epoch, test metrics, wall time, sizes."""
    config = config or RecTrainConfig()
    with open_train_run(config.train) as run:  # an unwritable --out, or one holding a run: refused before data
        data = load_data(config) if data is None else data
        return _train_rec(data, config, run)


def _train_rec(data: SequenceData, config: RecTrainConfig, run: Run | None) -> dict:
    start = time.perf_counter()
    seed, out_dir = config.train.seed, config.train.out_dir
    torch.manual_seed(seed)
    model = dataclasses.replace(config.model, n_items=data.n_items, max_len=data.max_len)
    cloze = model.cloze
    net = build_model(model, torch.as_tensor(data.item_popularity()), text_tokens(data, model))
    mask_token = model.mask_token if cloze and model.arch != "pop" else None
    valid, test = eval_batch(data, "valid", mask_token), eval_batch(data, "test", mask_token)
    result = {"model": model.name, "dataset": {"users": data.n_users, "items": data.n_items,
              "interactions": int(sum(len(s) for s in data.sequences))}, "seed": seed,
              "params": sum(p.numel() for p in net.parameters())}
    if isinstance(net, (SeqRec, Recformer)):
        result.update(_fit(net, data, valid, config, run))
    else:
        result["valid"] = evaluate(net, valid)
    net.eval()
    test_ranks = ranks(net, test)
    result["test"] = rank_metrics(test_ranks)
    if data.cold is not None:
        cold = torch.as_tensor(data.cold_targets("test"))
        result["cold_items"] = int(data.cold.sum())
        result["test_users"] = {"warm": int((~cold).sum()), "cold": int(cold.sum())}
        result["test_warm"], result["test_cold"] = rank_metrics(test_ranks[~cold]), rank_metrics(test_ranks[cold])
        # where the targets land beyond the top 20: 0 = first, 1 = last of the n_items (random: about 0.5)
        result["median_rank"] = {k: float(test_ranks[m].double().median() / data.n_items) if m.any() else None
                                 for k, m in (("warm", ~cold), ("cold", cold))}
    result["wall_seconds"] = time.perf_counter() - start
    result["config"] = {**dataclasses.asdict(model), "objective": model.goal, "dropout": model.drop}
    result["run_config"] = dataclasses.asdict(config)  # what `rnnzoo rec recommend` rebuilds the run from
    result["provenance"] = provenance()
    if out_dir:
        write_results(out_dir, result)
    return result


def _fit(net: SeqRec | Recformer, data: SequenceData, valid, config: RecTrainConfig, run: Run | None) -> dict:
    c, seed, out_dir = net.config, config.train.seed, config.train.out_dir
    metric, batch_size = config.train.early_stop_metric, config.batch_size
    recformer = isinstance(net, Recformer)
    if recformer:  # one example per target: the encoder reads each history anew
        inputs, lengths, labels = next_item_examples(data, c.text_history)
    else:
        inputs, lengths, labels = train_windows(data, c.cloze, min(config.stride or data.max_len, data.max_len))
    n = len(inputs)
    if c.cloze and c.last_ratio > 0:  # every target with its history, for the last-item batches
        last_rows = next_item_examples(data, data.max_len - 1)
    drawn = min(n, c.examples_per_epoch) if recformer else n  # examples per epoch, a fresh random subset each
    passes = round(1 / c.mask_ratio) if c.cloze else 1  # a cloze epoch masks each target about once
    per_pass = math.ceil(drawn / batch_size)
    per_epoch = per_pass * passes
    total = config.train.steps if config.epochs is None else min(config.train.steps, config.epochs * per_epoch)

    def batch_fn(step: int):
        epoch, i = divmod(step, per_epoch)
        if recformer and i == 0 and epoch <= c.refresh_epochs:  # stage 1 re-encodes I; epoch refresh_epochs
            net.refresh_items()                                   # encodes the I that stage 2 keeps frozen
        p, i = divmod(i, per_pass)
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch * passes + p))
        idx = order[:drawn][i * batch_size: (i + 1) * batch_size]
        seq, lens, lab = inputs[idx], lengths[idx], labels[idx]
        if c.cloze:
            gen = torch.Generator().manual_seed(seed * 1_000_003 + step + 7)
            if c.last_ratio > 0 and torch.rand((), generator=gen) < c.last_ratio:
                pick = torch.randint(len(last_rows[0]), (len(idx),), generator=gen)
                seq, lens, lab = last_item_batch(*(t[pick] for t in last_rows), c.mask_token)
            else:
                seq, lens, lab = mask_batch(seq, lens, c.mask_ratio, c.mask_token, gen)
        t = int(lens.max())
        if recformer:
            return seq[:, :t], lens, lab, epoch < c.refresh_epochs  # stage 1 encodes the targets with gradients
        return seq[:, :t], lens, lab[:, :t]

    best = {"value": -1.0, "state": None, "epoch": 0}

    def eval_fn(model):
        metrics = evaluate(model, valid)
        if metrics[metric] > best["value"]:
            state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
            best.update({"value": metrics[metric], "state": state,
                         "epoch": math.ceil(trainer.step / per_epoch), "valid": metrics})
            if out_dir:
                atomic_write_bytes(Path(out_dir) / "best.safetensors", safetensors.torch.save(best["state"]))
        return metrics

    cfg = dataclasses.replace(config.train, steps=total, eval_every=per_epoch, log_every=per_epoch)
    trainer = Trainer(net, cfg, batch_fn, lambda m, b: (m.loss(*b), {}), eval_fn, run=run)
    summary = trainer.fit()
    net.load_state_dict(best["state"])
    trainer.close()  # leaves the process group under torchrun, once the model is no longer used
    return {"valid": best["valid"], "best_epoch": best["epoch"], "epochs": round(summary["steps"] / per_epoch, 2),
            "steps": summary["steps"], "train_windows": n, "train_seconds": summary["train_seconds"],
            "final_loss": summary["final_loss"]}
