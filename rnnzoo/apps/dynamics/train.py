"""Train a PLRNN on a chaotic system by GTF (alpha in (0, 1)), BPTT (alpha = 0) or teacher forcing (alpha = 1),
then score its free-running trajectory against a held-out true one.

```python
from rnnzoo.config_args import override
r = train_dynamics(override(DynamicsConfig(), system="lorenz63", gtf=0.3, steps=800))
r["test"]["d_stsp"], r["test"]["d_h"], r["grad_norm"]["max"]
```

Data: a training trajectory (seed) and a test trajectory (seed + 1,000,003) of ``length`` steps at ``dt``,
both standardised with the training mean and standard deviation. Batches are ``batch_size`` windows of
``seq_len`` steps at random offsets, a pure function of (seed, step). Loss: MSE of the GTF predictions
(``gtf_unroll``). Evaluation: the model runs free for ``eval_len`` steps from the test trajectory's first
state; D_stsp and D_H compare that with the test trajectory's first ``eval_len`` steps. ``grad_norm``: the
global gradient norm before clipping, over the logged steps (every ``log_every``): the quantity whose
explosion under BPTT on chaotic data GTF is meant to prevent.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from rnnzoo.apps.dynamics.metrics import power_spectrum_distance, state_space_divergence
from rnnzoo.apps.dynamics.models import PLRNN, PLRNNConfig, gtf_unroll
from rnnzoo.apps.dynamics.systems import SYSTEMS, check_system, trajectories
from rnnzoo.config_args import option
from rnnzoo.provenance import provenance
from rnnzoo.rundir import open_train_run, write_results
from rnnzoo.train import TrainConfig, Trainer

TEST_SEED = 1_000_003
MODELS = ("plrnn",)


@dataclass
class DynamicsConfig:
    """The model and trainer configs nested, plus the system, its sampling and the GTF weight."""

    model: PLRNNConfig = option(factory=PLRNNConfig)
    train: TrainConfig = option(factory=lambda: TrainConfig(
        steps=800, lr=1e-3, weight_decay=0.0, betas=(0.9, 0.999), warmup_steps=0, min_lr_ratio=0.1,
        grad_clip=10.0, log_every=10))
    arch: str = option("plrnn", "the recurrent model", choices=MODELS)
    system: str = option("lorenz63", f"chaotic system, one of {sorted(SYSTEMS)}")
    gtf: float = option(0.3, "GTF mixing weight alpha: 0 = BPTT (free running), 1 = teacher forcing")
    dt: float = option(0.01, "integration and sampling step (time units)")
    length: int = option(20_000, "steps of the training and of the test trajectory")
    noise: float = option(0.0, "observation noise, as a fraction of each coordinate's standard deviation")
    seq_len: int = option(200, "steps per training window")
    batch_size: int = option(16, "windows per step")
    eval_len: int = option(10_000, "free-running steps scored against the test trajectory")
    bins: int = option(30, "D_stsp bins per dimension")
    sigma: float = option(2.0, "D_H Gaussian smoothing of the spectra (frequency bins)")

    def __post_init__(self) -> None:
        check_system(self.system)
        if self.arch not in MODELS:
            raise ValueError(f"unknown model {self.arch!r}; choose one of {MODELS}")
        if not 0 <= self.gtf <= 1:
            raise ValueError(f"gtf (alpha) must be in [0, 1], got {self.gtf}")
        if not 2 <= self.seq_len <= self.length:
            raise ValueError(f"need 2 <= seq_len <= length, got seq_len={self.seq_len}, length={self.length}")
        if not 2 <= self.eval_len <= self.length:
            raise ValueError(f"need 2 <= eval_len <= length, got eval_len={self.eval_len}, length={self.length}")
        if self.batch_size < 1 or self.bins < 2:
            raise ValueError(f"need batch_size >= 1 and bins >= 2, got {self.batch_size} and {self.bins}")
        self.model = dataclasses.replace(self.model, n_obs=SYSTEMS[self.system][1])


def load_data(cfg: DynamicsConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """(train, test) trajectories [length, N] float32, standardised with the training statistics."""
    seed = cfg.train.seed
    train, test = trajectories(cfg.system, cfg.length, cfg.dt, (seed, seed + TEST_SEED), cfg.noise)
    mean, std = train.mean(0), train.std(0)
    return ((train - mean) / std).float(), ((test - mean) / std).float()


def window_batch(data: torch.Tensor, seq_len: int, batch_size: int, seed: int, step: int) -> torch.Tensor:
    """``batch_size`` windows of ``seq_len`` consecutive states at offsets drawn from (seed, step): [B, T, N]."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + step)
    start = torch.randint(0, len(data) - seq_len + 1, (batch_size,), generator=g)
    return data[start[:, None] + torch.arange(seq_len)]


@torch.no_grad()
def evaluate(model: PLRNN, test: torch.Tensor, cfg: DynamicsConfig) -> tuple[dict, np.ndarray]:
    """D_stsp, D_H of the free-running trajectory from test[0]; also returns that trajectory [eval_len, N]."""
    gen = model.generate(test[:1], cfg.eval_len)[0].double().numpy()
    true = test[1:cfg.eval_len + 1].double().numpy()
    if len(true) < len(gen):  # eval_len == length: the last state has no successor
        gen = gen[:len(true)]
    metrics = {"d_stsp": state_space_divergence(true, gen, cfg.bins),
               "d_h": power_spectrum_distance(true, gen, cfg.sigma)}
    return metrics, gen


def train_dynamics(cfg: DynamicsConfig | None = None) -> dict:
    """Train, evaluate and (with ``train.out_dir``) write results.json and attractor.png; the results dict."""
    cfg = cfg or DynamicsConfig()
    with open_train_run(cfg.train) as run:  # an unwritable --out, or one holding a run: refused before data
        start = time.perf_counter()
        torch.manual_seed(cfg.train.seed)
        train, test = load_data(cfg)
        model = PLRNN(cfg.model)
        seed = cfg.train.seed

        def loss_fn(m, x):
            return torch.nn.functional.mse_loss(gtf_unroll(m, x, cfg.gtf), x[:, 1:]), {}

        trainer = Trainer(model, cfg.train, lambda step: window_batch(train, cfg.seq_len, cfg.batch_size, seed, step),
                          loss_fn, run_config=cfg, run=run)
        summary = trainer.fit()
        norms = np.array([h["grad_norm"] for h in trainer.history if "grad_norm" in h])
        model.eval()
        metrics, gen = evaluate(model, test, cfg)
        result = {"system": cfg.system, "model": cfg.arch, "alpha": cfg.gtf, "seed": seed, "test": metrics,
                  "grad_norm": {"median": float(np.median(norms)), "max": float(norms.max())} if len(norms) else {},
                  "final_loss": summary["final_loss"], "train_seconds": summary["train_seconds"],
                  "wall_seconds": time.perf_counter() - start,
                  "params": sum(p.numel() for p in model.parameters()),
                  "config": dataclasses.asdict(cfg), "provenance": provenance()}
        if cfg.train.out_dir:
            from rnnzoo.apps.dynamics.plot import plot_attractor

            plot_attractor(test[1:cfg.eval_len + 1].numpy(), gen, Path(cfg.train.out_dir) / "attractor.png",
                           title=f"{cfg.system}, {cfg.arch}, alpha={cfg.gtf}")
            write_results(cfg.train.out_dir, result)
        trainer.close()  # leaves the process group under torchrun, once the model is no longer used
        return result
