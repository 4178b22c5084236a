"""Plots of forecasting results (matplotlib, imported only here): forecast vs truth on the test part, and
MASE per model as bars."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def plot_forecast(series: np.ndarray, starts: np.ndarray, preds: dict[str, np.ndarray], path: str | Path,
                  title: str, channel: int = 0) -> None:
    """series [T, C] (original scale); ``preds`` model -> [K, H, C] forecasts made at time steps
    ``starts`` [K] (each forecasts starts[k] .. starts[k] + H - 1); the test part is shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 3.5))
    ax.plot(series[:, channel], color="black", lw=1, label="truth")
    ax.axvspan(int(starts[0]), len(series) - 1, color="grey", alpha=0.12, label="test part")
    for i, (name, pred) in enumerate(preds.items()):
        for k, s in enumerate(starts):
            t = np.arange(s, s + pred.shape[1])
            ax.plot(t, pred[k, :, channel], color=f"C{i}", lw=1.2, label=name if k == 0 else None)
    ax.set_title(title)
    ax.legend(fontsize=8, ncol=4)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_mase(mase: dict[str, dict[str, float]], path: str | Path) -> None:
    """Grouped bars: ``mase[data][model]`` (mean over seeds); the line at 1 is seasonal naive in-sample."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = list(mase)
    models = sorted({m for row in mase.values() for m in row})
    fig, ax = plt.subplots(figsize=(11, 3.8))
    width = 0.8 / len(models)
    for i, m in enumerate(models):
        ax.bar(np.arange(len(sets)) + i * width, [mase[s].get(m, np.nan) for s in sets], width, label=m)
    ax.axhline(1.0, color="black", lw=0.8)
    ax.set_xticks(np.arange(len(sets)) + 0.4 - width / 2, sets)
    ax.set_ylabel("test MASE (lower is better)")
    ax.legend(fontsize=7, ncol=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
