"""Plots of the state-collapse study (matplotlib, imported only here)."""

from __future__ import annotations

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_bpc(lm: list[dict], names: list[str], path: str, train_len: int) -> None:
    """Mean bits/char per position bucket (x: the bucket's end), one line per model, training variant and mode."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    ends = [int(n.split("-")[1]) for n in names]
    groups = sorted({(r["model"], r["variant"], mode) for r in lm for mode in r["eval"]})
    for model, variant, mode in groups:
        runs = [r for r in lm if r["model"] == model and r["variant"] == variant]
        y = np.mean([[r["eval"][mode]["bpc"][n] for n in names] for r in runs], 0)
        ax.plot(ends, y, marker="o", lw=1.2, ls="-" if mode == "plain" else "--", label=f"{model} {variant} {mode}")
    ax.axvline(train_len, color="grey", ls=":", lw=0.8)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("position (end of bucket); dotted: training length")
    ax.set_ylabel("bits / char")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_states(lm: list[dict], cfg, path: str) -> None:
    """Last-layer state norm (log) and effective rank along the stream, mean over seeds, plain reading of each
    model's base and longer-trained runs."""
    plt = _pyplot()
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8))
    for model, variant in sorted({(r["model"], r["variant"]) for r in lm}):
        runs = [r for r in lm if r["model"] == model and r["variant"] == variant]
        norm = np.mean([r["eval"]["plain"]["norm"][-1] for r in runs], 0)
        pos = cfg.piece * (np.arange(len(norm)) + 1)
        a.plot(pos, norm, label=f"{model} {variant}")
        ranks = [r["eval"]["plain"]["rank"][-1] for r in runs]
        if ranks[0]:
            b.plot(pos, np.mean(ranks, 0), label=f"{model} {variant}")
    for ax, name in ((a, "state norm (last layer)"), (b, "effective rank (last layer, mean over heads)")):
        ax.axvline(cfg.train_len, color="grey", ls=":", lw=0.8)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("position")
        ax.set_ylabel(name)
        ax.legend(fontsize=7)
    a.set_yscale("log")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
