"""Train a time-series network with the shared Trainer: random mini-batches of (x, y) rows, the best
validation weights kept (the last ones when there is no validation data)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import safetensors.torch
import torch
from torch import nn

from rnnzoo.apps.timeseries.models import penalty
from rnnzoo.io import atomic_write_bytes
from rnnzoo.rundir import Run
from rnnzoo.train import TrainConfig, Trainer

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def fit(net: nn.Module, x: torch.Tensor, y: torch.Tensor, loss: LossFn, train: TrainConfig, batch_size: int,
        score: Callable[[nn.Module], dict[str, float]] | None, run: Run | None) -> dict:
    """Minimise ``loss(net(x_batch), y_batch)`` + the model's own penalty over ``train.steps`` steps of
    ``batch_size`` rows drawn from x [N, ...], y [N, ...] (a pure function of seed and step). ``score(net)``:
    validation metrics with a ``score`` key to maximise, evaluated every ``train.eval_every`` steps; the
    best weights are loaded back (and written to ``best.safetensors`` in the run directory)."""
    n, seed = len(x), train.seed

    def batch_fn(step: int):
        idx = torch.randint(n, (min(batch_size, n),), generator=torch.Generator().manual_seed(seed * 1_000_003 + step))
        return x[idx], y[idx]

    def loss_fn(model: nn.Module, batch):
        xb, yb = batch
        return loss(model(xb), yb) + penalty(net), {}

    best = {"score": None, "state": None, "step": 0}

    def eval_fn(model: nn.Module) -> dict[str, float]:
        metrics = score(model)
        if best["score"] is None or metrics["score"] > best["score"]:
            state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
            best.update(score=metrics["score"], state=state, step=trainer.step, valid=metrics)
            if run is not None:
                atomic_write_bytes(Path(run.path) / "best.safetensors", safetensors.torch.save(state))
        return metrics

    trainer = Trainer(net, train, batch_fn, loss_fn, eval_fn if score else None, run=run)
    summary = trainer.fit()
    out = {"steps": summary["steps"], "train_seconds": summary["train_seconds"], "final_loss": summary["final_loss"]}
    if best["state"] is not None:
        net.load_state_dict(best["state"])
        out.update(best_step=best["step"], valid=best["valid"])
    trainer.close()  # leaves the process group under torchrun, once the model is no longer used
    return out

