"""One training loop for every model and task in rnnzoo.

```python
trainer = Trainer(model, TrainConfig(steps=500, lr=3e-3), batch_fn=task_batches, loss_fn=lm_loss,
                  eval_fn=lambda m: {"acc": ...})
summary = trainer.fit()
```

Data comes from ``batch_fn(step) -> batch``: the batch is a pure function of the step index (and the
caller's seed), so a run is reproducible and a resumed run sees exactly the batches it would have seen.
``loss_fn(model, batch) -> (loss, metrics)``; ``eval_fn(model) -> metrics`` runs every ``eval_every``
steps under ``torch.no_grad`` with the model in eval mode. AdamW with decay groups and per-parameter
hints (``rnnzoo.train.optim``), linear warm-up + cosine, gradient clipping, gradient accumulation,
early stopping on an eval metric, ``tqdm`` progress, JSONL metrics and a summary JSON in ``out_dir``.

Checkpoints (``rnnzoo.train.checkpoint``) go to ``out_dir`` every ``checkpoint_every`` steps and at the end;
``resume=True`` continues from the one in ``out_dir`` exactly: weights, AdamW moments, schedule, RNG
states and early-stopping bookkeeping are restored, so the losses after resuming equal those of an
uninterrupted run with the same seed, step for step.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn
from tqdm.auto import tqdm

from rnnzoo.train.checkpoint import load_checkpoint, save_checkpoint
from rnnzoo.train.io import append_jsonl, atomic_write_json
from rnnzoo.train.optim import build_optimizer, warmup_cosine

Batch = Any
LossFn = Callable[[nn.Module, Batch], tuple[torch.Tensor, dict[str, float]]]


@dataclass
class TrainConfig:
    steps: int = 1000
    lr: float = 1e-3
    weight_decay: float = 0.1
    warmup_steps: int = 50
    min_lr_ratio: float = 0.1
    grad_clip: float = 1.0            # max global grad norm; <= 0 disables
    grad_accum: int = 1               # micro-batches per optimiser step
    eval_every: int = 0               # 0: evaluate only at the end
    early_stop_metric: str | None = None  # eval metric to maximise for early stopping
    early_stop_patience: int = 0      # evaluations without improvement before stopping; 0 disables
    log_every: int = 10
    seed: int = 0
    out_dir: str | None = None        # metrics.jsonl + summary.json written here when set
    progress: bool = True
    checkpoint_every: int = 0         # steps between checkpoints in out_dir (and one at the end); 0: none
    resume: bool = False              # continue from the checkpoint in out_dir

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")
        if self.lr <= 0 or not math.isfinite(self.lr):
            raise ValueError(f"lr must be a positive number, got {self.lr}")
        if self.grad_accum < 1:
            raise ValueError(f"grad_accum must be >= 1, got {self.grad_accum}")
        if self.early_stop_patience and not self.early_stop_metric:
            raise ValueError("early_stop_patience needs early_stop_metric")
        if self.checkpoint_every < 0:
            raise ValueError(f"checkpoint_every must be >= 0, got {self.checkpoint_every}")
        if (self.checkpoint_every or self.resume) and not self.out_dir:
            raise ValueError("checkpoint_every and resume need out_dir (where checkpoints live)")


class Trainer:
    def __init__(self, model: nn.Module, config: TrainConfig, batch_fn: Callable[[int], Batch],
                 loss_fn: LossFn, eval_fn: Callable[[nn.Module], dict[str, float]] | None = None,
                 checkpoint_extra: dict | None = None):
        """``checkpoint_extra``: JSON-able data saved in every checkpoint's sidecar (e.g. an app's vocabulary)."""
        self.model, self.config = model, config
        self.batch_fn, self.loss_fn, self.eval_fn = batch_fn, loss_fn, eval_fn
        self.optimizer = build_optimizer(model, config.lr, config.weight_decay)
        self.scheduler = warmup_cosine(self.optimizer, config.warmup_steps, config.steps, config.min_lr_ratio)
        self.step = 0
        self.history: list[dict] = []
        self.best: tuple[float, int] | None = None  # (metric value, step)
        self.evals_without_gain = 0
        self.checkpoint_extra = checkpoint_extra or {}

    def fit(self) -> dict:
        """Train to ``config.steps`` (or early stop); returns the summary dict."""
        cfg = self.config
        torch.manual_seed(cfg.seed)
        if cfg.resume:
            self._resume()
        start, tokens = time.perf_counter(), 0
        bar = tqdm(total=cfg.steps, initial=self.step, disable=not cfg.progress, desc="train", dynamic_ncols=True)
        stopped_early = False
        while self.step < cfg.steps:
            loss, metrics, n_tokens = self._train_step()
            tokens += n_tokens
            self.step += 1
            bar.update(1)
            if self.step % cfg.log_every == 0 or self.step == cfg.steps:
                rate = tokens / max(1e-9, time.perf_counter() - start)
                record = {"step": self.step, "loss": loss, "lr": self.scheduler.get_last_lr()[0],
                          "tokens_per_s": rate, **metrics}
                self._log(record)
                bar.set_postfix(loss=f"{loss:.4f}", tok_s=f"{rate:,.0f}")
            last = self.step == cfg.steps
            if self.eval_fn is not None and (last or (cfg.eval_every and self.step % cfg.eval_every == 0)):
                improved = self._evaluate()
                self.evals_without_gain = 0 if improved else self.evals_without_gain + 1
                if cfg.early_stop_patience and self.evals_without_gain >= cfg.early_stop_patience:
                    stopped_early = True
            if cfg.checkpoint_every and (last or stopped_early or self.step % cfg.checkpoint_every == 0):
                self.save_checkpoint()
            if stopped_early:
                break
        bar.close()
        summary = {"steps": self.step, "stopped_early": stopped_early, "train_seconds": time.perf_counter() - start,
                   "final_loss": next((h["loss"] for h in reversed(self.history) if "loss" in h), None),
                   "evals": [h for h in self.history if "eval" in h], "config": asdict(cfg)}
        if self.best is not None:
            summary["best"] = {"metric": cfg.early_stop_metric, "value": self.best[0], "step": self.best[1]}
        if cfg.out_dir:
            atomic_write_json(Path(cfg.out_dir) / "summary.json", summary)
        return summary

    def save_checkpoint(self) -> None:
        """Checkpoint the current state into ``out_dir`` (atomic; replaces the previous one)."""
        bookkeeping = {"best": list(self.best) if self.best else None, "evals_without_gain": self.evals_without_gain}
        save_checkpoint(self.config.out_dir, self.model, step=self.step, optimizer=self.optimizer,
                        scheduler=self.scheduler, train_config=self.config,
                        extra={**self.checkpoint_extra, "trainer": bookkeeping})

    def _resume(self) -> None:
        meta = load_checkpoint(self.config.out_dir, self.model, optimizer=self.optimizer, scheduler=self.scheduler,
                               restore_rng=True)
        self.step = meta["step"]
        bookkeeping = meta["extra"]["trainer"]
        self.best = tuple(bookkeeping["best"]) if bookkeeping["best"] else None
        self.evals_without_gain = bookkeeping["evals_without_gain"]

    def _train_step(self) -> tuple[float, dict[str, float], int]:
        cfg = self.config
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        total, metrics, n_tokens = 0.0, {}, 0
        for micro in range(cfg.grad_accum):
            batch = self.batch_fn(self.step * cfg.grad_accum + micro)
            loss, m = self.loss_fn(self.model, batch)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"loss became {loss.item()} at step {self.step}")
            (loss / cfg.grad_accum).backward()
            total += loss.item() / cfg.grad_accum
            metrics = {k: metrics.get(k, 0.0) + v / cfg.grad_accum for k, v in m.items()}
            n_tokens += _count_tokens(batch)
        if cfg.grad_clip > 0:
            metrics["grad_norm"] = float(nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip))
        self.optimizer.step()
        self.scheduler.step()
        return total, metrics, n_tokens

    def _evaluate(self) -> bool:
        """Run eval_fn, log it, and say whether the early-stop metric improved."""
        was_training = self.model.training
        self.model.eval()
        with torch.no_grad():
            metrics = self.eval_fn(self.model)
        self.model.train(was_training)
        self._log({"step": self.step, "eval": metrics})
        key = self.config.early_stop_metric
        if key is None:
            return True
        if key not in metrics:
            raise KeyError(f"early_stop_metric {key!r} not among eval metrics {sorted(metrics)}")
        if self.best is None or metrics[key] > self.best[0]:
            self.best = (metrics[key], self.step)
            return True
        return False

    def _log(self, record: dict) -> None:
        self.history.append(record)
        if self.config.out_dir:
            append_jsonl(Path(self.config.out_dir) / "metrics.jsonl", record)


def _count_tokens(batch: Batch) -> int:
    first = batch[0] if isinstance(batch, (tuple, list)) else batch
    return first.numel() if isinstance(first, torch.Tensor) else 0


def lm_loss(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
    """Next-token cross-entropy. batch = (inputs [B, T], targets [B, T]); targets == -100 are ignored."""
    inputs, targets = batch
    logits = model(inputs)
    loss = nn.functional.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(), ignore_index=-100)
    with torch.no_grad():
        mask = targets != -100
        acc = ((logits.argmax(-1) == targets) & mask).sum() / mask.sum().clamp(min=1)
    return loss, {"acc": float(acc)}
