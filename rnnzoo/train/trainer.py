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
uninterrupted run with the same seed, step for step. ``out_dir`` is a run directory (``rnnzoo.rundir``):
locked while the run trains, refused when it already holds a run unless ``resume`` or ``overwrite``, every
metrics record carries the run's id, and a resume drops the metrics records written after the checkpoint.
The run's config (the app's, ``run_config``, or this TrainConfig) is saved with each checkpoint; a resume
whose config differs is refused, listing the differences, unless they are safe to change
(``rnnzoo.rundir.SAFE_ON_RESUME``: reported in one line) or ``override_config`` is set.

``device`` (auto: cuda, else mps, else cpu) holds the model; every batch (tensors nested in tuples, lists,
dicts) is moved there before ``loss_fn``. ``dtype`` bfloat16/float16 runs ``loss_fn`` and ``eval_fn`` under
``torch.autocast`` (``rnnzoo.train.device``); weights and AdamW moments stay float32, and float16 (CUDA only)
scales the loss with ``torch.amp.GradScaler`` (its scale is not checkpointed: a resume starts it afresh).
Checkpoints hold CPU tensors and load on any device.

Under ``torchrun`` (``WORLD_SIZE`` > 1 in the environment) the Trainer joins the process group (NCCL when
the device is CUDA, each rank on cuda:LOCAL_RANK; gloo otherwise), broadcasts rank 0's weights and gives each
rank a contiguous shard of the global batch that ``batch_fn`` returns (its first dimension must divide by the
world size). After the last micro-batch's backward, the gradients are averaged across ranks in one all-reduce
of one flat buffer, so the run matches a single process on the same global batch; logged losses are averaged
across ranks; only rank 0 writes files and shows progress. That is ``parallel="ddp"``; ``parallel="fsdp"`` shards
every block and the root with ``fully_shard`` (``rnnzoo.train.fsdp``) instead: each rank holds 1/N of the weights,
gradients and AdamW moments, its backward reduce-scatters the averaged gradients, and a checkpoint gathers the
full state onto rank 0 into the same files a single process writes, so either kind of run resumes the other.

``close()`` leaves the process group the Trainer joined; call it when training is over.

Why the averaging is not ``DistributedDataParallel``'s and the sent buffers are kept: a gloo worker thread
that drops the last reference to a finished collective must take the GIL when that collective holds a Python
object, and destroying a gloo group (``destroy_process_group``, garbage collection, interpreter exit) joins
those threads from the main thread, which holds the GIL: a deadlock. DDP's all-reduces start inside
``backward``, whose thread state then holds the Python context autograd stashes there; a tensor whose Python
object died while the worker still held it does too. So the Trainer all-reduces after ``backward`` returns and
keeps the step's sent tensors alive (``_sent``) until the next step or ``close``: one rank used to hang at exit
after training, which looked like torchrun having started only one of two workers.
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable

import torch
import torch.distributed as dist
from torch import nn
from tqdm.auto import tqdm

from rnnzoo.config_args import option
from rnnzoo.io import append_jsonl, atomic_write_json
from rnnzoo.labels import IGNORE
from rnnzoo.provenance import provenance
from rnnzoo.rundir import Run, open_run, resume_changes, truncate_metrics
from rnnzoo.runtime import keep_freed_memory
from rnnzoo.train.checkpoint import SIDECAR, CheckpointError, load_checkpoint, read_sidecar, save_checkpoint
from rnnzoo.train.device import (
    DEVICE_HELP,
    DTYPE_HELP,
    DTYPES,
    autocast,
    check_precision,
    needs_grad_scaler,
    process_group_backend,
    resolve_device,
    to_device,
)
from rnnzoo.train.fsdp import full_state, is_sharded, shard_model
from rnnzoo.train.optim import build_optimizer, warmup_cosine
from rnnzoo.validate import check_types

Batch = Any
LossFn = Callable[[nn.Module, Batch], tuple[torch.Tensor, dict[str, float]]]


PARALLEL = ("ddp", "fsdp")  # how the processes of a torchrun launch share the training: see the module doc

# TrainConfig fields that only a resumable run uses: commands whose runs cannot be resumed offer no flag for them
RESUME_FIELDS = frozenset({"checkpoint_every", "resume", "override_config"})


@dataclass
class TrainConfig:
    steps: int = option(1000, "optimiser steps", minimum=1)
    lr: float = option(1e-3, "peak learning rate (AdamW)")
    weight_decay: float = option(0.1, "AdamW weight decay (parameters with a no-decay hint are exempt)")
    betas: tuple[float, float] = option((0.9, 0.95), "AdamW betas; RecBole-style recipes use 0.9,0.999")
    warmup_steps: int | None = option(50, "linear warm-up steps; None: a tenth of steps, at most 100")
    min_lr_ratio: float = option(0.1, "final learning rate of the cosine schedule, as a fraction of lr")
    grad_clip: float = option(1.0, "max global gradient norm; <= 0 disables")
    grad_accum: int = option(1, "micro-batches per optimiser step", minimum=1)
    eval_every: int | None = option(0, "steps between evaluations; 0: only at the end; None: five per run")
    early_stop_metric: str | None = option(None, "eval metric to maximise for early stopping")
    early_stop_patience: int = option(0, "evaluations without improvement before stopping; 0 disables")
    log_every: int | None = option(10, "steps between metric records; None: about 20 per run (at most 50 apart)",
                                   minimum=1)
    seed: int = option(0, "seed of the weights, the batches and the RNG")
    out_dir: str | None = option(None, "directory for metrics.jsonl, summary.json and checkpoints")
    progress: bool = option(True, "show a progress bar")
    checkpoint_every: int = option(0, "steps between checkpoints in out_dir (and one at the end); 0: none")
    resume: bool = option(False, "continue from the checkpoint in out_dir, with its saved settings")
    overwrite: bool = option(False, "replace the run already in out_dir (its checkpoint, metrics and results)")
    override_config: bool = option(False, "with resume: apply settings that differ from the saved run's")
    compile: bool = option(False, "run the training step through torch.compile (needs a C++ compiler on CPU)")
    device: str = option("auto", f"where to train: {DEVICE_HELP}; under torchrun, cuda means cuda:LOCAL_RANK")
    dtype: str = option("float32", DTYPE_HELP, choices=tuple(DTYPES))
    parallel: str = option("ddp", "under torchrun: ddp (every process holds the whole model; gradients all-reduced) "
                           "or fsdp (each holds 1/N of weights, gradients and AdamW moments: fully_shard)",
                           choices=PARALLEL)

    def resolved(self) -> "TrainConfig":
        """This config with the None (derived from steps) warm-up, eval and log intervals filled in."""
        def pick(value, derived):
            return derived if value is None else value

        return replace(self, warmup_steps=pick(self.warmup_steps, min(100, self.steps // 10)),
                       eval_every=pick(self.eval_every, max(1, self.steps // 5)),
                       log_every=pick(self.log_every, max(1, min(50, self.steps // 20))))

    def __post_init__(self) -> None:
        check_types(self)
        if self.resume and self.overwrite:
            raise ValueError("resume and overwrite exclude each other: resume continues the run in out_dir, "
                             "overwrite replaces it")
        if self.lr <= 0 or not math.isfinite(self.lr):
            raise ValueError(f"lr must be a positive number, got {self.lr}")
        if self.early_stop_patience and not self.early_stop_metric:
            raise ValueError("early_stop_patience needs early_stop_metric")
        if (self.checkpoint_every or self.resume) and not self.out_dir:
            raise ValueError("checkpoint_every and resume need out_dir (where checkpoints live)")
        check_precision(self.device, self.dtype)


class Trainer:
    def __init__(self, model: nn.Module, config: TrainConfig, batch_fn: Callable[[int], Batch],
                 loss_fn: LossFn, eval_fn: Callable[[nn.Module], dict[str, float]] | None = None,
                 checkpoint_extra: dict | None = None, run_config: Any = None, run: Run | None = None):
        """``checkpoint_extra``: JSON-able data saved in every checkpoint's sidecar (e.g. an app's vocabulary).
        ``run_config``: the app's whole config (a dataclass nesting ``config``), compared on resume; default
        ``config``. ``run``: the run directory the app already opened (``rnnzoo.rundir.open_run``) on
        ``out_dir``; without it ``fit`` opens (and locks) ``out_dir`` itself."""
        self.run_config = config if run_config is None else run_config
        self.run = run
        keep_freed_memory()  # every step re-allocates the same big tensors: keep them mapped (rnnzoo/runtime.py)
        config = config.resolved()
        self.device = _rank_device(resolve_device(config.device))
        self.model, self.config = model.to(self.device), config
        self.batch_fn, self.loss_fn, self.eval_fn = batch_fn, loss_fn, eval_fn
        self.scaler = torch.amp.GradScaler(self.device.type) if needs_grad_scaler(self.device, config.dtype) else None
        self._sent: tuple[torch.Tensor, ...] = ()  # the last step's all-reduced tensors: see the module doc
        self._owns_group = _distributed() and not dist.is_initialized()
        self.rank, self.world_size = _join_process_group(self.device)
        self.is_main = self.rank == 0
        if self.world_size > 1:
            _broadcast_weights(model)
            if config.parallel == "fsdp":
                shard_model(model, self.device, self.world_size)  # before the optimizer: it holds the shards
        self.optimizer = build_optimizer(model, config.lr, config.weight_decay, tuple(config.betas))
        self.scheduler = warmup_cosine(self.optimizer, config.warmup_steps, config.steps, config.min_lr_ratio)
        self.step = 0
        self.history: list[dict] = []
        self.best: tuple[float, int] | None = None  # (metric value, step)
        self.evals_without_gain = 0
        self.checkpoint_extra = checkpoint_extra or {}
        self.train_model = model
        if config.compile:
            # the compiled wrapper shares parameters with ``model``: checkpoints and eval use the plain module
            self.train_model = torch.compile(self.train_model)

    def fit(self) -> dict:
        """Train to ``config.steps`` (or early stop); returns the summary dict."""
        if self.run is not None or not (self.config.out_dir and self.is_main):
            return self._fit()
        with open_run(self.config.out_dir, resume=self.config.resume, overwrite=self.config.overwrite) as run:
            self.run = run
            try:
                return self._fit()
            finally:
                self.run = None  # the lock is released: a later fit opens the directory again

    def _fit(self) -> dict:
        cfg = self.config
        torch.manual_seed(cfg.seed)
        if cfg.resume:
            self._resume()
        start, tokens = time.perf_counter(), 0
        bar = tqdm(total=cfg.steps, initial=self.step, disable=not (cfg.progress and self.is_main), desc="train",
                   dynamic_ncols=True)
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
                   "evals": [h for h in self.history if "eval" in h], "config": asdict(cfg),
                   "provenance": provenance()}
        if self.best is not None:
            summary["best"] = {"metric": cfg.early_stop_metric, "value": self.best[0], "step": self.best[1]}
        if cfg.out_dir and self.is_main:
            atomic_write_json(Path(cfg.out_dir) / "summary.json", summary)
        return summary

    def save_checkpoint(self) -> None:
        """Checkpoint the current state into ``out_dir`` (atomic; replaces the previous one). Rank 0 writes; every
        rank calls it (a sharded model's full state is gathered from all of them first)."""
        weights, moments = full_state(self.model, self.optimizer) if is_sharded(self.model) else (None, None)
        if not self.is_main:
            return
        bookkeeping = {"best": list(self.best) if self.best else None, "evals_without_gain": self.evals_without_gain}
        save_checkpoint(self.config.out_dir, self.model, step=self.step, optimizer=self.optimizer,
                        scheduler=self.scheduler, train_config=self.config,
                        extra={**self.checkpoint_extra, "trainer": bookkeeping,
                               "run_config": asdict(self.run_config)}, weights=weights, optimizer_state=moments)

    def _resume(self) -> None:
        out = Path(self.config.out_dir)
        saved = read_sidecar(out)["extra"].get("run_config")  # compared first: a differing mixer is listed too
        changed = [] if saved is None else resume_changes(saved, self.run_config, self.config.override_config)
        meta = load_checkpoint(out, self.model, optimizer=self.optimizer, scheduler=self.scheduler,
                               restore_rng=True)
        if changed and self.is_main:
            print(f"resuming {out} at step {meta['step']} with changed settings: {', '.join(changed)}",
                  file=sys.stderr)
        self.step = meta["step"]
        bookkeeping = meta["extra"].get("trainer")
        if not (isinstance(bookkeeping, dict) and isinstance(bookkeeping.get("evals_without_gain"), int)
                and (bookkeeping.get("best") is None or isinstance(bookkeeping["best"], list))):
            raise CheckpointError(f"checkpoint sidecar {out / SIDECAR}: field 'extra.trainer' is missing or not "
                                  f"the trainer's bookkeeping {{best, evals_without_gain}}, got {bookkeeping!r:.80}")
        self.best = tuple(bookkeeping["best"]) if bookkeeping["best"] else None
        self.evals_without_gain = bookkeeping["evals_without_gain"]
        if self.is_main:
            truncate_metrics(out / "metrics.jsonl", self.step)

    def _train_step(self) -> tuple[float, dict[str, float], int]:
        cfg = self.config
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        total, metrics, n_tokens = 0.0, {}, 0
        for micro in range(cfg.grad_accum):
            batch = self.batch_fn(self.step * cfg.grad_accum + micro)
            n_tokens += _count_tokens(batch)
            if self.world_size > 1:
                batch = _shard(batch, self.rank, self.world_size)
            batch = to_device(batch, self.device)
            with autocast(self.device, cfg.dtype):
                loss, m = self.loss_fn(self.train_model, batch)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"loss became {loss.item()} at step {self.step}")
            scaled = loss.float() / cfg.grad_accum
            (scaled if self.scaler is None else self.scaler.scale(scaled)).backward()
            total += loss.item() / cfg.grad_accum
            metrics = {k: metrics.get(k, 0.0) + v / cfg.grad_accum for k, v in m.items()}
        if self.world_size > 1:
            total, metrics, values = self._mean_over_ranks(total, metrics)
            # a sharded model's gradients were reduce-scattered (averaged) by its backward already
            flat = () if is_sharded(self.model) else (_average_gradients(self.model, self.world_size),)
            self._sent = (*flat, values)  # after backward, once per step: module doc
        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)  # clip the true gradients
        if cfg.grad_clip > 0:
            metrics["grad_norm"] = float(nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip))
        if self.scaler is None:
            self.optimizer.step()
        else:
            self.scaler.step(self.optimizer)  # skipped when the scaled gradients overflowed
            self.scaler.update()
        self.scheduler.step()
        return total, metrics, n_tokens

    def close(self) -> None:
        """Leave the process group if this Trainer joined it (under torchrun); a no-op otherwise."""
        if self._owns_group and dist.is_initialized():
            dist.destroy_process_group()
        self._owns_group, self._sent = False, ()  # released only after the group's worker threads are joined

    def _mean_over_ranks(self, loss: float, metrics: dict[str, float]) -> tuple[float, dict[str, float], torch.Tensor]:
        """(mean loss, mean metrics, the all-reduced tensor, which the caller keeps alive)."""
        keys = sorted(metrics)
        sent = torch.tensor([loss, *(metrics[k] for k in keys)], dtype=torch.float64, device=self.device)
        dist.all_reduce(sent)
        values = (sent / self.world_size).tolist()
        return values[0], dict(zip(keys, values[1:])), sent

    def _evaluate(self) -> bool:
        """Run eval_fn, log it, and say whether the early-stop metric improved."""
        was_training = self.model.training
        self.model.eval()
        with torch.no_grad(), autocast(self.device, self.config.dtype):
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
        if self.run is not None:
            record = {**record, "run_id": self.run.run_id}
        self.history.append(record)
        if self.config.out_dir and self.is_main:
            append_jsonl(Path(self.config.out_dir) / "metrics.jsonl", record)


def _distributed() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def _rank_device(device: torch.device) -> torch.device:
    """Under torchrun each process trains on its own GPU, cuda:LOCAL_RANK; otherwise ``device`` itself."""
    if device.type == "cuda" and _distributed():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


def _join_process_group(device: torch.device) -> tuple[int, int]:
    """(rank, world size): (0, 1) unless launched by torchrun with WORLD_SIZE > 1; the backend follows
    ``device`` (``process_group_backend``)."""
    if not _distributed():
        return 0, 1
    if not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(process_group_backend(device))
    return dist.get_rank(), dist.get_world_size()


def _broadcast_weights(model: nn.Module) -> None:
    """Every rank starts from rank 0's parameters and buffers."""
    for t in [*model.parameters(), *model.buffers()]:
        dist.broadcast(t.data, 0)


def _average_gradients(model: nn.Module, world_size: int) -> torch.Tensor:
    """Replace every parameter's gradient by its mean over ranks: one all-reduce of one flat float32 buffer
    (a parameter without a gradient on this rank counts as zeros, so every rank sends the same layout).
    Returns the buffer, which the caller keeps alive."""
    params = [p for p in model.parameters() if p.requires_grad]
    flat = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1).float() for p in params])
    dist.all_reduce(flat)
    flat /= world_size
    for p, g in zip(params, flat.split([p.numel() for p in params])):
        p.grad = g.view_as(p).to(p.dtype)
    return flat


def _shard(batch: Batch, rank: int, world_size: int) -> Batch:
    """This rank's contiguous slice of the rows of every tensor in the (global) batch."""
    if isinstance(batch, (tuple, list)):
        return type(batch)(_shard(b, rank, world_size) for b in batch)
    if not isinstance(batch, torch.Tensor):
        return batch
    if batch.shape[0] % world_size:
        raise ValueError(f"global batch of {batch.shape[0]} rows does not divide over {world_size} processes")
    n = batch.shape[0] // world_size
    return batch[rank * n:(rank + 1) * n]


def _count_tokens(batch: Batch) -> int:
    first = batch[0] if isinstance(batch, (tuple, list)) else batch
    return first.numel() if isinstance(first, torch.Tensor) else 0


def lm_loss(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
    """Next-token cross-entropy. batch = (inputs [B, T], targets [B, T]); targets == -100 are ignored."""
    inputs, targets = batch
    logits = model(inputs)
    loss = nn.functional.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(), ignore_index=IGNORE)
    with torch.no_grad():
        mask = targets != IGNORE
        acc = ((logits.argmax(-1) == targets) & mask).sum() / mask.sum().clamp(min=1)
    return loss, {"acc": float(acc)}
