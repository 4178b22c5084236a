"""Train and evaluate a sequential recommender on leave-one-out splits with the shared Trainer.

Training data: each user's training part (all but the last two items) is cut, from its end, into
windows of ``max_len`` inputs. Next-item models (gru4rec, sasrec, --encoder with objective "next")
predict the next item at every position of a window, so every training item after a user's first is
a target exactly once per epoch (RecBole feeds every prefix as its own example; a causal model sees the
same targets, with less left context at the start of a window). Cloze models (bert4rec, objective
"cloze") get a fresh random mask per batch: each item masked with probability ``mask_ratio``, at least one
per window. One epoch = one pass over the windows; validation every epoch; early stopping on valid
NDCG@10 with ``patience`` epochs (RecBole: stopping_step 10); the best-validation weights are kept
(``best.safetensors``) and scored on the test split.
"""

from __future__ import annotations

import copy
import math
import time
from pathlib import Path

import numpy as np
import safetensors.torch
import torch

from rnnzoo.apps.rec.data import PAD, SequenceData
from rnnzoo.apps.rec.metrics import rank_metrics, target_ranks
from rnnzoo.apps.rec.models import RecConfig, SeqRec, build_model
from rnnzoo.io import atomic_write_bytes, atomic_write_json
from rnnzoo.train import Trainer, TrainConfig

IGNORE = -100


def _pad(rows: list[np.ndarray], width: int, fill: int) -> torch.Tensor:
    out = torch.full((len(rows), width), fill, dtype=torch.long)
    for i, r in enumerate(rows):
        out[i, : len(r)] = torch.as_tensor(r)
    return out


def train_windows(data: SequenceData, cloze: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """-> (inputs [N, max_len], lengths [N], labels [N, max_len]); labels are next items (next-item
    objective, IGNORE on padding) or the inputs themselves (cloze; the mask is drawn per batch)."""
    L = data.max_len
    inputs, labels = [], []
    for s in data.train_sequences():
        end = len(s)
        while end >= (1 if cloze else 2):
            w = s[max(0, end - L - (0 if cloze else 1)): end]
            inputs.append(w if cloze else w[:-1])
            labels.append(w if cloze else w[1:])
            end -= L
    if not inputs:
        raise ValueError("no training windows: every user's training part is too short")
    lengths = torch.tensor([len(r) for r in inputs])
    return _pad(inputs, L, PAD), lengths, _pad(labels, L, IGNORE)


def eval_batch(data: SequenceData, split: str, mask_token: int | None) -> tuple[torch.Tensor, ...]:
    """-> (histories [U, T] right-padded, lengths [U], targets [U]); with ``mask_token`` the history keeps
    its last max_len - 1 items and a [MASK] is appended (BERT4Rec's test input)."""
    histories, targets = data.split(split)
    if mask_token is not None:
        histories = [np.append(h[len(h) - data.max_len + 1:], mask_token) for h in histories]
    lengths = torch.tensor([len(h) for h in histories])
    return _pad(histories, int(lengths.max()), PAD), lengths, torch.as_tensor(targets)


@torch.no_grad()
def evaluate(model: torch.nn.Module, batch: tuple[torch.Tensor, ...], chunk: int = 1024) -> dict[str, float]:
    """Full ranking over all items for every user of an ``eval_batch``."""
    seq, lengths, targets = batch
    ranks = []
    for i in range(0, len(seq), chunk):
        n = int(lengths[i:i + chunk].max())
        ranks.append(target_ranks(model.score(seq[i:i + chunk, :n], lengths[i:i + chunk]), targets[i:i + chunk]))
    return rank_metrics(torch.cat(ranks))


def train_rec(data: SequenceData, model: str = "sasrec", encoder: str | None = None, objective: str | None = None,
              epochs: int = 40, steps: int | None = None, batch_size: int = 64, lr: float = 2e-3,
              patience: int = 5, seed: int = 0, out_dir: str | None = None, progress: bool = True,
              **config_overrides) -> dict:
    """Train ``model`` (or ``encoder`` under ``objective``) and return the results dict (also written to
    ``out_dir/results.json``): valid metrics at the best epoch, test metrics, wall time, sizes."""
    start = time.perf_counter()
    torch.manual_seed(seed)
    config = RecConfig(n_items=data.n_items, model=model, encoder=encoder, objective=objective,
                       max_len=data.max_len, **config_overrides)
    cloze = config.objective == "cloze"
    net = build_model(config, torch.as_tensor(data.item_popularity()))
    mask_token = config.mask_token if cloze and config.model != "pop" else None
    valid, test = eval_batch(data, "valid", mask_token), eval_batch(data, "test", mask_token)
    result = {"model": config.name, "dataset": {"users": data.n_users, "items": data.n_items,
              "interactions": int(sum(len(s) for s in data.sequences))}, "seed": seed,
              "params": sum(p.numel() for p in net.parameters())}
    if isinstance(net, SeqRec):
        result.update(_fit(net, config, data, valid, epochs, steps, batch_size, lr, patience, seed, out_dir,
                           progress))
    else:
        result["valid"] = evaluate(net, valid)
    net.eval()
    result["test"] = evaluate(net, test)
    result["wall_seconds"] = time.perf_counter() - start
    result["config"] = {k: v for k, v in vars(config).items()}
    if out_dir:
        atomic_write_json(Path(out_dir) / "results.json", result)
    return result


def _fit(net: SeqRec, config: RecConfig, data: SequenceData, valid, epochs, steps, batch_size, lr, patience,
         seed, out_dir, progress) -> dict:
    inputs, lengths, labels = train_windows(data, config.objective == "cloze")
    n = len(inputs)
    per_epoch = math.ceil(n / batch_size)
    total = steps if steps is not None else epochs * per_epoch

    def batch_fn(step: int):
        epoch, i = divmod(step, per_epoch)
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))
        idx = order[i * batch_size: (i + 1) * batch_size]
        seq, lens, lab = inputs[idx], lengths[idx], labels[idx]
        if config.objective == "cloze":
            seq, lab = _mask(seq, lens, config, torch.Generator().manual_seed(seed * 1_000_003 + step + 7))
        t = int(lens.max())
        return seq[:, :t], lens, lab[:, :t]

    best = {"ndcg@10": -1.0, "state": None, "epoch": 0}

    def eval_fn(model):
        metrics = evaluate(model, valid)
        if metrics["ndcg@10"] > best["ndcg@10"]:
            best.update({"ndcg@10": metrics["ndcg@10"], "state": copy.deepcopy(model.state_dict()),
                         "epoch": math.ceil(trainer.step / per_epoch), "valid": metrics})
            if out_dir:
                atomic_write_bytes(Path(out_dir) / "best.safetensors", safetensors.torch.save(best["state"]))
        return metrics

    cfg = TrainConfig(steps=total, lr=lr, weight_decay=0.0, betas=(0.9, 0.999), warmup_steps=0, min_lr_ratio=1.0, grad_clip=1.0,
                      eval_every=per_epoch, early_stop_metric="ndcg@10", early_stop_patience=patience,
                      log_every=per_epoch, seed=seed, out_dir=out_dir, progress=progress)
    trainer = Trainer(net, cfg, batch_fn, lambda m, b: (m.loss(*b), {}), eval_fn)
    summary = trainer.fit()
    net.load_state_dict(best["state"])
    return {"valid": best["valid"], "best_epoch": best["epoch"], "epochs": round(summary["steps"] / per_epoch, 2),
            "steps": summary["steps"], "train_windows": n, "train_seconds": summary["train_seconds"],
            "final_loss": summary["final_loss"]}


def _mask(seq: torch.Tensor, lengths: torch.Tensor, config: RecConfig, gen: torch.Generator):
    """Cloze corruption: each real item -> [MASK] with prob mask_ratio (>= 1 per row); labels elsewhere IGNORE."""
    valid = torch.arange(seq.shape[1])[None] < lengths[:, None]
    masked = (torch.rand(seq.shape, generator=gen) < config.mask_ratio) & valid
    empty = ~masked.any(1)
    pick = (torch.rand(len(seq), generator=gen) * lengths).long()
    masked[empty, pick[empty]] = True
    return seq.masked_fill(masked, config.mask_token), torch.where(masked, seq, IGNORE)
