"""Images that ship in a wheel: scikit-learn's 8x8 digits, as pixel sequences, and clips of moving digits.

Data: ``sklearn/datasets/data/digits.csv.gz`` of the scikit-learn wheel (BSD-3-Clause), read directly (the
package is never imported): 1,797 images of 8x8 pixels with values 0..16 and their labels, the test part of
the UCI "Optical Recognition of Handwritten Digits" set (Alpaydin & Kaynak 1998; 43 writers, 32x32 bitmaps
counted in 4x4 blocks). Split: a fixed shuffle (seed 0, independent of the run's seed) into 1,437 training
and 360 test images.

```python
images, labels = load_digits()                       # [1797, 8, 8] float32 in [0, 1], [1797] int64
x = pixel_sequence(images, order="permuted", seed=0)  # [1797, 64, 1]: psMNIST at small scale
frames, digits = moving_digits(images, labels, n_clips=4, frames=20, canvas=32, n_digits=2, seed=0)
# frames [4, 20, 1, 32, 32] in [0, 1]; digits [4, 2]: the labels of the digits in each clip
```
"""

from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path

import numpy as np
import torch

ORDERS = ("pixel", "permuted")
TRAIN_SIZE = 1437
_MISSING = ("the digits come from the scikit-learn wheel, which is not installed; install it with "
            "`pip install --no-deps scikit-learn==1.9.1` (only its data file is read)")


def digits_path() -> Path:
    """Where the scikit-learn wheel keeps digits.csv.gz (FileNotFoundError naming the fix if absent)."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(_MISSING)
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / "digits.csv.gz"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the installed scikit-learn; {_MISSING}")
    return path


def load_digits(path: str | Path | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(images [N, 8, 8] float32 in [0, 1], labels [N] int64) from digits.csv.gz (65 numbers a row: 64 pixels
    0..16, then the label)."""
    path = Path(path) if path else digits_path()
    with gzip.open(path, "rt") as f:
        rows = np.loadtxt(f, delimiter=",", dtype=np.float32, ndmin=2)
    if rows.shape[1] != 65:
        raise ValueError(f"{path}: expected 65 comma-separated numbers a row (64 pixels and a label), "
                         f"got {rows.shape[1]}")
    return torch.from_numpy(rows[:, :64].reshape(-1, 8, 8) / 16.0), torch.from_numpy(rows[:, 64]).long()


def split(images: torch.Tensor, labels: torch.Tensor) -> tuple[tuple[torch.Tensor, torch.Tensor], ...]:
    """((train images, labels), (test images, labels)): a fixed shuffle, the first TRAIN_SIZE for training."""
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))
    cut = min(TRAIN_SIZE, int(0.8 * len(images)))
    return (images[order[:cut]], labels[order[:cut]]), (images[order[cut:]], labels[order[cut:]])


def permutation(n: int, seed: int) -> torch.Tensor:
    """The fixed pixel permutation of a seed: [n] int64."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed + 7919))


def pixel_sequence(images: torch.Tensor, order: str = "pixel", seed: int = 0) -> torch.Tensor:
    """Images [N, H, W] read pixel by pixel, row-major ("pixel") or in the seed's fixed permutation
    ("permuted"): [N, H*W, 1]."""
    if order not in ORDERS:
        raise ValueError(f"unknown pixel order {order!r}; choose one of {ORDERS}")
    if images.ndim != 3:
        raise ValueError(f"images must be [N, H, W], got shape {tuple(images.shape)}")
    x = images.flatten(1)
    if order == "permuted":
        x = x[:, permutation(x.shape[1], seed)]
    return x[..., None]


def moving_digits(images: torch.Tensor, labels: torch.Tensor, n_clips: int, frames: int = 20, canvas: int = 32,
                  n_digits: int = 2, scale: int = 2, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Clips of ``n_digits`` digits (drawn from ``images``, upscaled ``scale`` times) moving in straight lines
    and bouncing off the edges of a ``canvas`` x ``canvas`` frame, overlaps combined by max (Moving MNIST,
    Srivastava et al. 2015, at small scale). Start positions, directions and speeds (1 to 3 pixels a frame)
    are drawn from ``seed`` alone: the same seed gives the same clips.
    Returns (frames [n_clips, frames, 1, canvas, canvas] float32 in [0, 1], labels [n_clips, n_digits])."""
    size = images.shape[-1] * scale
    if canvas < size + 2:
        raise ValueError(f"canvas {canvas} is too small for {size}x{size} digits (scale {scale}): need >= {size + 2}")
    if n_clips < 1 or frames < 1 or n_digits < 1:
        raise ValueError(f"need n_clips, frames, n_digits >= 1, got {n_clips}, {frames}, {n_digits}")
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(images), (n_clips, n_digits))
    sprites = np.kron(images.numpy()[pick], np.ones((scale, scale), np.float32))  # [n, d, size, size]
    room = canvas - size
    pos = rng.uniform(0, room, (n_clips, n_digits, 2))
    angle = rng.uniform(0, 2 * np.pi, (n_clips, n_digits))
    vel = rng.uniform(1, 3, (n_clips, n_digits, 1)) * np.stack([np.cos(angle), np.sin(angle)], -1)
    out = np.zeros((n_clips, frames, canvas, canvas), np.float32)
    for t in range(frames):
        for c in range(n_clips):
            for d in range(n_digits):
                y, x = np.rint(pos[c, d]).astype(int)
                view = out[c, t, y:y + size, x:x + size]
                np.maximum(view, sprites[c, d], out=view)
        pos += vel
        # reflect at the walls: a position past an edge is mirrored back and the velocity flips
        for lo_hi in ((pos < 0), (pos > room)):
            vel[lo_hi] *= -1
        pos = np.where(pos < 0, -pos, np.where(pos > room, 2 * room - pos, pos))
    return torch.from_numpy(out)[:, :, None], labels[torch.from_numpy(pick)]
