"""A 3-D plot of a generated trajectory beside the true one (first three coordinates)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def plot_attractor(true: np.ndarray, gen: np.ndarray, path: str | Path, title: str = "") -> None:
    """Save the true and generated trajectories ([T, N], N >= 3 plotted on the first three) side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(9, 4.5))
    for i, (name, x) in enumerate((("true", true), ("generated", gen))):
        ax = fig.add_subplot(1, 2, i + 1, projection="3d")
        x = np.where(np.isfinite(x), x, np.nan)
        ax.plot(x[:, 0], x[:, 1], x[:, 2] if x.shape[1] > 2 else np.zeros(len(x)), lw=0.3)
        ax.set_title(name)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
