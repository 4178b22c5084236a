"""Train and evaluate a frame predictor on moving digits: predict 10 frames from 10.

```python
from rnnzoo.config_args import override
r = train_moving(override(MovingConfig(), arch="convlstm", steps=300))
r["test"]["mse"], r["test"]["ssim"]        # per future step 1..future
```

Clips: ``n_digits`` training digits bouncing on a ``canvas`` square (``data.moving_digits``), ``context +
future`` frames; each training batch is generated from (seed, step), so no clip repeats. Training: next-frame
MSE under teacher forcing over the whole clip. Evaluation: ``eval_clips`` clips of test digits (fixed per
seed); the model reads ``context`` frames and generates ``future`` frames from its own predictions; MSE and
SSIM per future step, and (with ``train.out_dir``) ``frames.png``, predicted vs true frames of one clip.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from rnnzoo.apps.vision.data import load_digits, moving_digits, split
from rnnzoo.apps.vision.metrics import frame_mse, ssim
from rnnzoo.apps.vision.video import FramePredictor, VideoModelConfig
from rnnzoo.config_args import option
from rnnzoo.provenance import provenance
from rnnzoo.rundir import open_train_run, write_results
from rnnzoo.train import TrainConfig, Trainer

TEST_SEED = 1_000_003


@dataclass
class MovingConfig:
    """The model and trainer configs nested, plus the clips."""

    model: VideoModelConfig = option(factory=VideoModelConfig)
    train: TrainConfig = option(factory=lambda: TrainConfig(
        steps=300, lr=3e-3, weight_decay=0.0, betas=(0.9, 0.99), warmup_steps=20, log_every=20))
    canvas: int = option(32, "frame size in pixels (square, a multiple of 4)")
    n_digits: int = option(2, "digits per clip")
    scale: int = option(2, "digit upscaling: 8x8 digits drawn at 8*scale pixels")
    context: int = option(10, "frames given")
    future: int = option(10, "frames predicted")
    batch_size: int = option(8, "clips per step")
    eval_clips: int = option(128, "test clips")

    def __post_init__(self) -> None:
        if self.canvas % 4 or self.canvas < 8 * self.scale + 2:
            raise ValueError(f"canvas must be a multiple of 4 and >= {8 * self.scale + 2} for {8 * self.scale}-pixel "
                             f"digits, got {self.canvas}")
        if min(self.context, self.future, self.n_digits, self.batch_size, self.eval_clips, self.scale) < 1:
            raise ValueError("context, future, n_digits, scale, batch_size and eval_clips must be >= 1")


def clips(cfg: MovingConfig, images: torch.Tensor, labels: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """``n`` clips [n, context + future, 1, canvas, canvas] drawn from ``seed``."""
    return moving_digits(images, labels, n, cfg.context + cfg.future, cfg.canvas, cfg.n_digits, cfg.scale, seed)[0]


@torch.no_grad()
def evaluate(model: FramePredictor, test: torch.Tensor, cfg: MovingConfig) -> tuple[dict, torch.Tensor]:
    """Per-step MSE and SSIM of ``future`` generated frames; also returns the predictions [N, future, 1, H, W]."""
    pred = torch.cat([model.generate(test[i:i + 32, :cfg.context], cfg.future) for i in range(0, len(test), 32)])
    true = test[:, cfg.context:]
    return {"mse": frame_mse(pred, true).tolist(), "ssim": ssim(pred, true).tolist()}, pred


def train_moving(cfg: MovingConfig | None = None) -> dict:
    """Train, evaluate and (with ``train.out_dir``) write results.json and frames.png; the results dict."""
    cfg = cfg or MovingConfig()
    with open_train_run(cfg.train) as run:
        start = time.perf_counter()
        seed = cfg.train.seed
        torch.manual_seed(seed)
        (train_x, train_y), (test_x, test_y) = split(*load_digits())
        test = clips(cfg, test_x, test_y, cfg.eval_clips, seed + TEST_SEED)
        model = FramePredictor(cfg.model)

        def loss_fn(m, frames):
            logits, _ = m.logits(frames[:, :-1])
            with torch.no_grad():
                mse = nn.functional.mse_loss(logits.sigmoid(), frames[:, 1:])
            return nn.functional.binary_cross_entropy_with_logits(logits, frames[:, 1:]), {"mse": float(mse)}

        trainer = Trainer(model, cfg.train,
                          lambda step: clips(cfg, train_x, train_y, cfg.batch_size, seed * 1_000_003 + step),
                          loss_fn, run_config=cfg, run=run)
        summary = trainer.fit()
        model.eval()
        metrics, pred = evaluate(model, test, cfg)
        result = {"model": cfg.model.arch, "seed": seed, "test": {**metrics, "mse_mean": sum(metrics["mse"]) / cfg.future,
                  "ssim_mean": sum(metrics["ssim"]) / cfg.future}, "final_loss": summary["final_loss"],
                  "train_seconds": summary["train_seconds"], "wall_seconds": time.perf_counter() - start,
                  "params": sum(p.numel() for p in model.parameters()),
                  "config": dataclasses.asdict(cfg), "provenance": provenance()}
        if cfg.train.out_dir:
            from rnnzoo.apps.vision.plot import plot_frames

            plot_frames(test[0].numpy(), pred[0].numpy(), cfg.context, Path(cfg.train.out_dir) / "frames.png",
                        title=f"{cfg.model.arch}: {cfg.context} frames given, {cfg.future} predicted")
            write_results(cfg.train.out_dir, result)
        trainer.close()  # leaves the process group under torchrun, once the model is no longer used
        return result
