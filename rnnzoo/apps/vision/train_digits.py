"""Train and evaluate a digit classifier: a mixer over pixel sequences, LRCN over moving-digit clips, or pLSTM
over the image grid.

```python
from rnnzoo.config_args import override
r = train_digits(override(DigitsConfig(), arch="sequential", mixer="gru", order="permuted", steps=800))
r["test"]["acc"]
r = train_digits(override(DigitsConfig(), arch="lrcn", clip_digits=3, clip_frames=4))   # read 3 digits in order
r["test"]["acc"], r["test"]["digit_error"]     # whole strings read exactly; edit distance per digit
```

Batches: ``batch_size`` training images drawn from (seed, step); ``lrcn`` reads clips of one training digit
moving on a ``clip_canvas`` square for ``clip_frames`` frames (``moving_digits``, seed from (seed, step)).
Evaluation: accuracy on the 360 test images (``lrcn``: one clip per test image, fixed per seed). With
``clip_digits`` > 1, ``lrcn`` reads clips of that many digits shown one after another (``clip_frames`` frames
each) and emits the digits in order, trained with CTC (``reading.py``); evaluation: 360 clips of test digits,
the fraction read exactly ("acc") and the edit distance per target digit ("digit_error").
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import torch
from torch import nn

from rnnzoo.apps.vision.data import ORDERS, load_digits, moving_digits, pixel_sequence, split
from rnnzoo.apps.vision.models import CLIP_ARCHS, GRID_ARCHS, DigitsModelConfig, LRCNReader, build_classifier
from rnnzoo.apps.vision.reading import ctc_greedy, ctc_loss, reading_clips, reading_scores
from rnnzoo.config_args import option
from rnnzoo.provenance import provenance
from rnnzoo.rundir import open_train_run, write_results
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
    clip_frames: int = option(8, "lrcn, tslstm: frames per clip (per digit with clip_digits > 1)")
    clip_canvas: int = option(16, "lrcn, tslstm: clip frame size (pixels); the digit is 8x8")
    clip_digits: int = option(1, "lrcn: digits shown one after another per clip; above 1 the model emits them in "
                                 "order (CTC over frames) instead of naming one")

    def __post_init__(self) -> None:
        if self.order not in ORDERS:
            raise ValueError(f"unknown pixel order {self.order!r}; choose one of {ORDERS}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.clip_frames < 1:
            raise ValueError(f"clip_frames must be >= 1, got {self.clip_frames}")
        if self.clip_canvas < 10:
            raise ValueError(f"clip_canvas must be >= 10 (an 8x8 digit and room to move), got {self.clip_canvas}")
        if self.clip_digits < 1:
            raise ValueError(f"clip_digits must be >= 1, got {self.clip_digits}")
        if self.clip_digits > 1 and self.model.arch != "lrcn":
            raise ValueError(f"clip_digits {self.clip_digits} needs --model lrcn (it reads clips), got {self.model.arch!r}")
        if self.model.arch == "tslstm" and self.clip_frames < self.model.segments:
            raise ValueError(f"tslstm pools {self.model.segments} segments, more than clip_frames {self.clip_frames}")


def inputs(cfg: DigitsConfig, images: torch.Tensor, labels: torch.Tensor, seed: int
           ) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's inputs for ``images`` [N, 8, 8] and their labels: pixel sequences [N, 64, 1], the images
    themselves (grid models) or clips [N, T, 1, S, S] of each image moving (lrcn, tslstm; ``seed`` draws the
    motion); with
    ``clip_digits`` K > 1, N reading clips [N, K * clip_frames, 1, S, S] and their digit strings [N, K]."""
    arch = cfg.model.arch
    if cfg.clip_digits > 1:
        # the images pick nothing here: reading clips draw clip_digits digits from them per clip, by seed
        return reading_clips(images, labels, len(labels), cfg.clip_digits, cfg.clip_frames, cfg.clip_canvas, seed)
    if arch == "sequential":
        return pixel_sequence(images, cfg.order, cfg.train.seed), labels
    if arch in GRID_ARCHS:
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


@torch.no_grad()
def read_scores(model: nn.Module, x: torch.Tensor, targets: torch.Tensor, chunk: int = 128) -> dict:
    """Greedy CTC reading of clips ``x`` against ``targets`` [N, K]: ``reading_scores``."""
    return reading_scores([p for i in range(0, len(x), chunk) for p in ctc_greedy(model(x[i:i + chunk]))], targets)


def train_digits(cfg: DigitsConfig | None = None) -> dict:
    """Train, evaluate and (with ``train.out_dir``) write results.json; the results dict."""
    cfg = cfg or DigitsConfig()
    with open_train_run(cfg.train) as run:
        start = time.perf_counter()
        seed = cfg.train.seed
        torch.manual_seed(seed)
        (train_x, train_y), (test_x, test_y) = split(*load_digits())
        test_in, test_lab = inputs(cfg, test_x, test_y, seed + TEST_SEED)
        fixed = None if cfg.model.arch in CLIP_ARCHS else inputs(cfg, train_x, train_y, seed)
        reading = cfg.clip_digits > 1
        model = LRCNReader(cfg.model) if reading else build_classifier(cfg.model)

        def batch_fn(step):
            g = torch.Generator().manual_seed(seed * 1_000_003 + step)
            idx = torch.randint(0, len(train_x), (cfg.batch_size,), generator=g)
            if fixed is not None:
                return fixed[0][idx], fixed[1][idx]
            return inputs(cfg, train_x[idx], train_y[idx], seed * 1_000_003 + step)

        def loss_fn(m, batch):
            if reading:
                return ctc_loss(m(batch[0]), batch[1]), {}
            logits = m(batch[0])
            return nn.functional.cross_entropy(logits, batch[1]), {
                "acc": float((logits.argmax(-1) == batch[1]).float().mean())}

        def eval_fn(m):
            if reading:
                return read_scores(m, test_in, test_lab)
            return {"acc": accuracy(m, test_in, test_lab)}

        trainer = Trainer(model, cfg.train, batch_fn, loss_fn, eval_fn, run_config=cfg, run=run)
        summary = trainer.fit()
        result = {"model": cfg.model.arch, "mixer": None if cfg.model.arch in GRID_ARCHS else cfg.model.mixer,
                  "order": cfg.order if cfg.model.arch == "sequential" else None, "seed": seed,
                  "clip_digits": cfg.clip_digits, "test": summary["evals"][-1]["eval"],
                  "final_loss": summary["final_loss"],
                  "train_seconds": summary["train_seconds"], "wall_seconds": time.perf_counter() - start,
                  "params": sum(p.numel() for p in model.parameters()),
                  "config": dataclasses.asdict(cfg), "provenance": provenance()}
        if cfg.train.out_dir:
            write_results(cfg.train.out_dir, result)
        trainer.close()  # leaves the process group under torchrun, once the model is no longer used
        return result
