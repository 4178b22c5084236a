"""Predicted vs true frames of one clip, one column per future step."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def plot_frames(clip: np.ndarray, pred: np.ndarray, context: int, path: str | Path, title: str = "") -> None:
    """Save a 2-row grid: the true future frames of ``clip`` [T, 1, H, W] (after ``context``) over ``pred``
    [future, 1, H, W]."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    true = clip[context:]
    n = len(pred)
    fig, axes = plt.subplots(2, n, figsize=(1.1 * n, 2.6), squeeze=False)
    for j in range(n):
        for i, (name, frames) in enumerate((("true", true), ("predicted", pred))):
            ax = axes[i, j]
            ax.imshow(frames[j, 0], cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if j == 0:
                ax.set_ylabel(name, fontsize=8)
        axes[0, j].set_title(f"t+{j + 1}", fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
