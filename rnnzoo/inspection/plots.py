"""Plots of ``rnnzoo.inspection`` results (matplotlib, imported only here)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_matrix(matrix: torch.Tensor, path: str | Path, title: str = "", heads: int = 4) -> None:
    """Save the first ``heads`` heads of one sequence's implicit attention matrix [H, T, T] as heat maps
    (|M|, log colour scale, so decays over orders of magnitude stay visible)."""
    plt = _pyplot()
    from matplotlib.colors import LogNorm

    m = matrix.detach().abs().double().cpu().numpy()[:heads]
    fig, axes = plt.subplots(1, len(m), figsize=(3.2 * len(m), 3.2), squeeze=False)
    positive = m[m > 0]
    lo = max(positive.min(), positive.max() * 1e-8) if positive.size else 1e-8
    for h, ax in enumerate(axes[0]):
        im = ax.imshow(np.where(m[h] > 0, m[h], np.nan), norm=LogNorm(vmin=lo, vmax=max(m.max(), lo * 10)),
                       cmap="viridis", interpolation="nearest")
        ax.set_title(f"head {h}", fontsize=9)
        ax.set_xlabel("source s")
        ax.set_ylabel("output t")
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8, label="|M[t, s]|")
    fig.suptitle(title, fontsize=10)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def plot_trajectory(rows: list[dict], path: str | Path, title: str = "", train_len: int | None = None) -> None:
    """Save state norm and effective rank against position, one line per layer (``state_trajectory`` rows);
    ``train_len`` marks the training length."""
    plt = _pyplot()
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
    for row in rows:
        a.plot(row["positions"], row["norm"], label=f"layer {row['layer']}")
        if row["rank"]:
            b.plot(row["positions"], row["rank"], label=f"layer {row['layer']}")
    for ax, name in ((a, "state norm"), (b, "effective rank (mean over heads)")):
        if train_len:
            ax.axvline(train_len, color="grey", ls="--", lw=0.8)
        ax.set_xlabel("position")
        ax.set_ylabel(name)
        ax.legend(fontsize=8)
    a.set_yscale("log")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
