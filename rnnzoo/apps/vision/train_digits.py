"""Train and evaluate a digit classifier: a mixer over pixel sequences, LRCN over moving-digit clips, or pLSTM
over the image grid.

```python
from rnnzoo.config_args import override
r = train_digits(override(DigitsConfig(), arch="sequential", mixer="gru", order="permuted", steps=800))
r["test"]["acc"]
```

Batches: ``batch_size`` training images drawn from (seed, step); ``lrcn`` reads clips of one training digit
moving on a ``clip_canvas`` square for ``clip_frames`` frames (``moving_digits``, seed from (seed, step)).
Evaluation: accuracy on the 360 test images (``lrcn``: one clip per test image, fixed per seed).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from rnnzoo.apps.vision.data import ORDERS, load_digits, moving_digits, pixel_sequence, split
from rnnzoo.apps.vision.models import DigitsModelConfig, build_classifier
from rnnzoo.config_args import option
from rnnzoo.io import atomic_write_json
from rnnzoo.provenance import provenance
from rnnzoo.rundir import open_train_run
from rnnzoo.train import TrainConfig, Trainer

TEST_SEED = 1_000_003


@dataclass
class DigitsConfig:
    """The model and trainer configs nested, plus the input order and the clips of ``lrcn``."""

    model: DigitsModelConfig = option(factory=DigitsModelConfig)
    train: TrainConfig = option(factory=lambda: TrainConfig(
        steps=600, lr=3e-3, weight_decay=0.01, betas=(0.9, 0.98), warmup_steps=30, log_every=20))
    order: str = option("pixel", "sequential: pixel order, row-major or a fixed permutation per seed", choices=ORDERS)
    batch_size: int = option(32, "images (or clips) per step")
    clip_frames: int = option(8, "lrcn: frames per clip")
    clip_canvas: int = option(16, "lrcn: clip frame size (pixels); the digit is 8x8")

    def __post_init__(self) -> None:
        if self.order not in ORDERS:
            raise ValueError(f"unknown pixel order {self.order!r}; choose one of {ORDERS}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.clip_frames < 1:
            raise ValueError(f"clip_frames must be >= 1, got {self.clip_frames}")
        if self.clip_canvas < 10:
            raise ValueError(f"clip_canvas must be >= 10 (an 8x8 digit and room to move), got {self.clip_canvas}")


def inputs(cfg: DigitsConfig, images: torch.Tensor, labels: torch.Tensor, seed: int
           ) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's inputs for ``images`` [N, 8, 8] and their labels: pixel sequences [N, 64, 1], the images
    themselves (plstm2d) or clips [N, T, 1, S, S] of each image moving (lrcn; ``seed`` draws the motion)."""
    arch = cfg.model.arch
    if arch == "sequential":
        return pixel_sequence(images, cfg.order, cfg.train.seed), labels
    if arch == "plstm2d":
        return images, labels
    frames, _ = _clips(cfg, images, labels, seed)
    return frames, labels


def _clips(cfg, images, labels, seed):
    # one clip per image: moving_digits draws which digit, so it is given each image on its own index range
    frames = [moving_digits(images[i:i + 1], labels[i:i + 1], 1, cfg.clip_frames, cfg.clip_canvas, 1, 1,
                            seed * 100_003 + i)[0] for i in range(len(images))]
    return torch.cat(frames), labels


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, chunk: int = 256) -> float:
    logits = torch.cat([model(x[i:i + chunk]) for i in range(0, len(x), chunk)])
    return float((logits.argmax(-1) == y).float().mean())


def train_digits(cfg: DigitsConfig | None = None) -> dict:
    """Train, evaluate and (with ``train.out_dir``) write results.json; the results dict."""
    cfg = cfg or DigitsConfig()
    with open_train_run(cfg.train) as run:
        start = time.perf_counter()
        seed = cfg.train.seed
        torch.manual_seed(seed)
        (train_x, train_y), (test_x, test_y) = split(*load_digits())
        test_in, test_lab = inputs(cfg, test_x, test_y, seed + TEST_SEED)
        fixed = None if cfg.model.arch == "lrcn" else inputs(cfg, train_x, train_y, seed)
        model = build_classifier(cfg.model)

        def batch_fn(step):
            g = torch.Generator().manual_seed(seed * 1_000_003 + step)
            idx = torch.randint(0, len(train_x), (cfg.batch_size,), generator=g)
            if fixed is not None:
                return fixed[0][idx], fixed[1][idx]
            return inputs(cfg, train_x[idx], train_y[idx], seed * 1_000_003 + step)

        def loss_fn(m, batch):
            logits = m(batch[0])
            return nn.functional.cross_entropy(logits, batch[1]), {
                "acc": float((logits.argmax(-1) == batch[1]).float().mean())}

        trainer = Trainer(model, cfg.train, batch_fn, loss_fn, lambda m: {"acc": accuracy(m, test_in, test_lab)},
                          run_config=cfg, run=run)
        summary = trainer.fit()
        result = {"model": cfg.model.arch, "mixer": None if cfg.model.arch == "plstm2d" else cfg.model.mixer,
                  "order": cfg.order if cfg.model.arch == "sequential" else None, "seed": seed,
                  "test": {"acc": summary["evals"][-1]["eval"]["acc"]}, "final_loss": summary["final_loss"],
                  "train_seconds": summary["train_seconds"], "wall_seconds": time.perf_counter() - start,
                  "params": sum(p.numel() for p in model.parameters()),
                  "config": dataclasses.asdict(cfg), "provenance": provenance()}
        if cfg.train.out_dir:
            atomic_write_json(Path(cfg.train.out_dir) / "results.json", result)
        trainer.close()  # leaves the process group under torchrun, once the model is no longer used
        return result
