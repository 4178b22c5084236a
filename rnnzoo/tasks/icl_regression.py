"""In-context linear regression (Garg et al. 2022, "What can transformers learn in-context?"): each
sequence draws a fresh w ~ N(0, I_d) and points x_i ~ N(0, I_d), y_i = w . x_i + noise_std * N(0, 1); the
model reads x_1, y_1, x_2, y_2, ... and predicts y_i at x_i's position from the i - 1 pairs before it.

The inputs are vectors, not tokens, so this is not a ``Task`` of the bench registry (whose ``make`` returns
int64 tokens for a ``LanguageModel``): it has its own generator, a small model with linear read-in and
read-out, and ``evaluate``, which reports the model's squared error per context length beside least
squares and ridge fitted on the same prefixes (the comparison the paper makes; predicting 0 scores
d + noise_std^2). Tokens are (d + 1)-vectors: x_i as [x_i, 0], y_i as [0, ..., 0, y_i].

```python
task = ICLRegression(dim=8, n_points=16)
xs, ys = task.make("train", n=64, seed=0)        # [64, 16, 8], [64, 16]
model = ICLRegressionModel(dim=8, mixer="gla")
loss = squared_error(model(xs, ys), ys).mean()    # train on this
errors = evaluate(model, task, n=512, seed=0)     # {"model": [16], "least_squares": [16], "ridge": [16]}
```
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from rnnzoo import mixers
from rnnzoo.models.block import Block
from rnnzoo.tasks.base import check_n, generator


@dataclass(frozen=True)
class ICLRegression:
    paper = "Garg et al. 2022, What can transformers learn in-context? (linear regression)"
    dim: int = 8  # d; the paper uses 20 with 2d + 1 = 41 points
    n_points: int = 16  # (x, y) pairs per sequence, so 2 * n_points vectors
    noise_std: float = 0.0  # label noise; 0 is the paper's main setting
    ridge_lambda: float = 0.1  # the ridge baseline's penalty; noise_std^2 is the Bayes-optimal choice when > 0

    def __post_init__(self) -> None:
        if self.dim < 1 or self.n_points < 1:
            raise ValueError(f"dim and n_points must be >= 1, got dim={self.dim}, n_points={self.n_points}")
        if self.noise_std < 0 or self.ridge_lambda <= 0:
            raise ValueError(f"need noise_std >= 0 and ridge_lambda > 0, got {self.noise_std}, {self.ridge_lambda}")

    def make(self, split: str, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """n sequences -> (xs [n, k, d], ys [n, k]) float32, each with its own w."""
        check_n(n)
        g = generator(split, seed)
        w = torch.randn(n, self.dim, generator=g)
        xs = torch.randn(n, self.n_points, self.dim, generator=g)
        ys = torch.einsum("nkd,nd->nk", xs, w) + self.noise_std * torch.randn(n, self.n_points, generator=g)
        return xs, ys


def interleave(xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
    """xs [n, k, d], ys [n, k] -> [n, 2k, d + 1]: x_1, y_1, x_2, y_2, ... with y in the last coordinate."""
    n, k, d = xs.shape
    out = xs.new_zeros(n, k, 2, d + 1)
    out[:, :, 0, :d] = xs
    out[:, :, 1, d] = ys
    return out.reshape(n, 2 * k, d + 1)


def least_squares_predictions(xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
    """xs [n, k, d], ys [n, k] -> [n, k]: y_i predicted by the minimum-norm least-squares w fitted to the
    i - 1 pairs before it (0 for the first point), as the paper's baseline."""
    preds = torch.zeros_like(ys)
    for i in range(1, ys.shape[1]):
        w = torch.linalg.pinv(xs[:, :i]) @ ys[:, :i, None]  # [n, d, 1]
        preds[:, i] = (xs[:, i, None] @ w)[:, 0, 0]
    return preds


def ridge_predictions(xs: torch.Tensor, ys: torch.Tensor, lam: float) -> torch.Tensor:
    """xs [n, k, d], ys [n, k] -> [n, k]: y_i predicted by w = (X^T X + lam I)^-1 X^T y on the pairs before it."""
    d = xs.shape[-1]
    preds = torch.zeros_like(ys)
    eye = torch.eye(d, dtype=xs.dtype)
    for i in range(1, ys.shape[1]):
        x, y = xs[:, :i], ys[:, :i, None]
        w = torch.linalg.solve(x.mT @ x + lam * eye, x.mT @ y)
        preds[:, i] = (xs[:, i, None] @ w)[:, 0, 0]
    return preds


def squared_error(preds: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
    """[n, k] each -> [n, k]."""
    return (preds - ys) ** 2


class ICLRegressionModel(nn.Module):
    """Linear read-in (d + 1 -> d_model), ``n_layers`` blocks of a causal registry mixer, linear read-out to one
    number at each x position. forward(xs [n, k, d], ys [n, k]) -> predictions [n, k]."""

    def __init__(self, dim: int, d_model: int = 64, n_layers: int = 2, mixer: str = "lstm",
                 mixer_options: dict | None = None, mlp_ratio: float = 4.0):
        super().__init__()
        if not mixers.get(mixer).causal:
            raise ValueError(f"in-context regression needs a causal mixer; {mixer!r} is not causal")
        self.dim = dim
        self.read_in = nn.Linear(dim + 1, d_model)
        self.blocks = nn.ModuleList(Block(mixers.build(mixer, d_model, **(mixer_options or {})), mlp_ratio)
                                    for _ in range(n_layers))
        self.norm = nn.RMSNorm(d_model)
        self.read_out = nn.Linear(d_model, 1)

    def forward(self, xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
        if xs.dim() != 3 or xs.shape[-1] != self.dim or ys.shape != xs.shape[:2]:
            raise ValueError(f"need xs [n, k, {self.dim}] and ys [n, k], got {tuple(xs.shape)} and {tuple(ys.shape)}")
        h = self.read_in(interleave(xs, ys))
        for block in self.blocks:
            h, _ = block(h)
        return self.read_out(self.norm(h[:, 0::2]))[..., 0]  # at x_i: y_i is not yet seen


@torch.no_grad()
def evaluate(model: nn.Module, task: ICLRegression, n: int, seed: int,
             batch_size: int = 256) -> dict[str, list[float]]:
    """Mean squared error at each context length 0..k-1 (index i = i pairs seen) on n test sequences, for
    ``model`` ((xs, ys) -> [n, k]) and for least squares and ridge on the same prefixes."""
    xs, ys = task.make("test", n, seed)
    preds = {
        "model": torch.cat([model(xs[i:i + batch_size], ys[i:i + batch_size]) for i in range(0, n, batch_size)]),
        "least_squares": least_squares_predictions(xs, ys),
        "ridge": ridge_predictions(xs, ys, task.ridge_lambda),
    }
    return {name: squared_error(p, ys).mean(0).tolist() for name, p in preds.items()}
