"""Curricula and timescales (Khajehabdollahi et al. 2024, Emergent mechanisms for long timescales depend on training
curriculum and affect performance in memory tasks, ICLR).

A leaky tanh RNN with one trainable time constant per neuron,

    h_t = (1 - 1/tau) h_{t-1} + (1/tau) tanh(W h_{t-1} + U x_t + b),   tau = 1 + softplus(theta) >= 1,

reads a stream of random bits and answers, at every step t >= N, one of two memory tasks:
N-parity (the parity of the last N bits) or N-DMS (delayed match to sample: is bit t equal to bit t - N).
Two curricula grow N from 2 in blocks of ``block_steps`` steps, moving on once every trained N reaches
``threshold`` accuracy on fresh streams:

- **single-head**: one readout trained on the current N only (it moves to N + 1);
- **multi-head**: one readout per N, all trained together (loss summed), a head added for each new N.

Recorded per run: the largest N solved within ``steps`` and the neurons' mean tau when each N was solved.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rnnzoo.config_args import option
from rnnzoo.studies.records import cost_lines, coverage, study_records

CLAIM = ("With trainable per-neuron time constants, a single-head curriculum (one N at a time) solves longer "
         "memory tasks by growing the time constants, while a multi-head curriculum (all N at once) keeps them near "
         "one, relies on recurrent dynamics instead, and reaches larger N.")
NAME = "curricula"
TASKS = ("parity", "dms")
CURRICULA = ("single", "multi")
QUICK = dict(steps=300, seeds=(0,))


@dataclass
class Config:
    quick: bool = option(False, "a few minutes: 300 steps, one seed")
    seeds: tuple[int, ...] = option((0, 1, 2), "training seeds")
    out_dir: str = option("results/studies/curricula", "JSONL records (resumable)")
    doc: str = option("docs/studies/curricula.md", "the study's page; its plot goes beside it")
    steps: int = option(3000, "optimiser steps per run (all N together)", minimum=1)
    block_steps: int = option(50, "steps between two accuracy checks", minimum=1)
    threshold: float = option(0.95, "accuracy at which N counts as solved")
    hidden: int = option(64, "neurons", minimum=1)
    seq_len: int = option(48, "bits per training stream", minimum=4)
    batch_size: int = option(32, "streams per step", minimum=1)
    max_n: int = option(30, "largest N tried", minimum=2)


class LeakyRNN(nn.Module):
    """The leaky tanh RNN with per-neuron tau; x: [B, T] bits -> hidden states [B, T, hidden]."""

    def __init__(self, hidden: int):
        super().__init__()
        self.cell = nn.RNNCell(1, hidden)
        self.theta = nn.Parameter(torch.full((hidden,), -2.0))  # tau = 1 + softplus(-2) = 1.13 at the start
        self.heads = nn.ModuleDict()

    @property
    def tau(self) -> torch.Tensor:
        return 1 + F.softplus(self.theta)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.new_zeros(x.shape[0], self.cell.hidden_size)
        alpha = 1 / self.tau
        out = []
        for t in range(x.shape[1]):
            h = (1 - alpha) * h + alpha * self.cell(x[:, t, None], h)  # nn.RNNCell is tanh(W h + U x + b)
            out.append(h)
        return torch.stack(out, 1)


def labels(bits: torch.Tensor, task: str, n: int) -> torch.Tensor:
    """bits [B, T] (0/1) -> answers [B, T - n + 1] for t = n-1 .. T-1 (parity of bits t-n+1..t, or bits t == t-n)."""
    if task == "parity":
        return bits.unfold(1, n, 1).sum(-1) % 2
    return (bits[:, n:] == bits[:, :-n]).long()


def loss_and_accuracy(model: LeakyRNN, bits: torch.Tensor, task: str, ns: list[int]):
    """Summed cross-entropy over the heads of ``ns`` and each head's accuracy, scored from step max(ns) on."""
    h = model(bits.float())
    loss, acc, start = 0.0, {}, max(ns)
    for n in ns:
        y = labels(bits, task, n)  # answer for step t at index t - (n - 1) (parity) or t - n (dms)
        offset = n - 1 if task == "parity" else n
        logits = model.heads[str(n)](h[:, start:])
        target = y[:, start - offset:]
        loss = loss + F.cross_entropy(logits.flatten(0, 1), target.flatten())
        acc[n] = (logits.argmax(-1) == target).float().mean().item()
    return loss, acc


def run_one(task: str, curriculum: str, seed: int, cfg: Config) -> dict:
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = LeakyRNN(cfg.hidden)
    n, solved = 2, []
    model.heads[str(n)] = nn.Linear(cfg.hidden, 2)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    step = 0
    while step < cfg.steps and n <= cfg.max_n:
        ns = list(range(2, n + 1)) if curriculum == "multi" else [n]
        length = max(cfg.seq_len, 2 * n + 8)  # room for at least n + 8 answers
        for _ in range(cfg.block_steps):
            bits = torch.randint(0, 2, (cfg.batch_size, length), generator=gen)
            loss, _ = loss_and_accuracy(model, bits, task, ns)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            step += 1
        with torch.no_grad():
            _, acc = loss_and_accuracy(model, torch.randint(0, 2, (256, length), generator=gen), task, ns)
        if min(acc.values()) >= cfg.threshold:
            solved.append({"n": n, "step": step, "mean_tau": model.tau.mean().item(),
                           "max_tau": model.tau.max().item()})
            n += 1
            if curriculum == "multi":
                model.heads[str(n)] = nn.Linear(cfg.hidden, 2)
            else:  # the one readout moves on to the next N
                model.heads[str(n)] = model.heads.pop(str(n - 1))
            opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    return {"largest_n": solved[-1]["n"] if solved else 1, "solved": solved, "steps": step,
            "final_tau": sorted(model.tau.tolist())}


def run(cfg: Config) -> dict:
    torch.set_num_threads(1)
    if cfg.quick:
        cfg = replace(cfg, **QUICK)
    records = study_records(Path(cfg.out_dir) / "runs.jsonl", ("task", "curriculum", "seed"), asdict(cfg))
    for seed in cfg.seeds:
        for task in TASKS:
            for curriculum in CURRICULA:
                records.run(lambda: {**run_one(task, curriculum, seed, cfg), "config": asdict(cfg)},
                            task=task, curriculum=curriculum, seed=seed)
    rows = records.current(cfg.seeds)
    return write_doc(rows, cfg)


def write_doc(rows: list[dict], cfg: Config) -> dict:
    doc = Path(cfg.doc)
    doc.parent.mkdir(parents=True, exist_ok=True)
    fmt = lambda v: f"{np.mean(v):.2f} ± {np.std(v):.2f}" if len(v) > 1 else f"{np.mean(v):.2f}"  # noqa: E731
    table = ["| task | curriculum | largest N solved | steps used | mean tau at the last N solved | "
             "max tau at the end |", "|---|---|---|---|---|---|"]
    summary, verdict = {}, []
    for task in TASKS:
        got = {}
        for cur in CURRICULA:
            runs = [r for r in rows if r["task"] == task and r["curriculum"] == cur]
            if not runs:
                continue
            largest = [r["largest_n"] for r in runs]
            tau = [r["solved"][-1]["mean_tau"] if r["solved"] else float("nan") for r in runs]
            got[cur] = (np.mean(largest), np.nanmean(tau) if not np.isnan(tau).all() else float("nan"),
                        np.std(largest), all(r["steps"] >= cfg.steps and r["largest_n"] < cfg.max_n for r in runs))
            table.append(f"| {task} | {cur}-head | {fmt(largest)} | {fmt([r['steps'] for r in runs])} | {fmt(tau)} | "
                         f"{fmt([max(r['final_tau']) for r in runs])} |")
            summary[f"{task} {cur} largest N"] = float(np.mean(largest))
        if len(got) == 2:
            (ns, ts, ss, s_cut), (nm, tm, sm, m_cut) = got["single"], got["multi"]
            spread = max(ss, sm, 0.5)  # a difference within the seeds' spread is no difference
            larger = ("larger N reproduced" if nm > ns + spread else
                      "about the same N, within the seeds' spread" if abs(nm - ns) <= spread else
                      "larger N not reproduced: single-head reaches the larger N")
            taus = ("multi-head keeps tau lower, as reported" if tm < ts - 0.05 else
                    "tau about the same under both (within 0.05)" if abs(tm - ts) <= 0.05 else
                    "multi-head ends with the larger tau, unlike the report")
            verdict.append(f"- {task}: multi-head reaches N = {nm:.1f} vs single-head {ns:.1f} "
                           f"({larger}); mean tau at the last N solved {tm:.2f} (multi) vs {ts:.2f} (single): {taus}."
                           + (f" Every run of both used all {cfg.steps} steps below N = {cfg.max_n}: the largest N "
                              "solved measures this budget, not either curriculum's ceiling." if s_cut and m_cut else ""))
    plot = doc.with_name(doc.stem + ".png")
    _plot(rows, plot)
    seeds = sorted({r["seed"] for r in rows})
    text = ["# Curricula and timescales", "", f"**Claim.** {CLAIM}", "",
            "**Setup.** " + __doc__.split("\n\n", 1)[1].strip(), "",
            f"Scale: {cfg.hidden} neurons, {cfg.steps} steps of {cfg.batch_size} streams (at least {cfg.seq_len} "
            f"bits), threshold {cfg.threshold}, seeds {seeds} (mean ± std). Command: `rnnzoo study curricula"
            f"{' --quick' if cfg.quick else ''}`; records: `{cfg.out_dir}/runs.jsonl`.", "",
            *coverage(len(rows), len(cfg.seeds) * len(TASKS) * len(CURRICULA)), "## Results", "", *table, "", f"![mean tau against the N solved]({plot.name})", "",
            "## Verdict", "", *verdict, "", *cost_lines(rows), ""]
    doc.write_text("\n".join(text))
    return summary


def _plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(TASKS), figsize=(9, 3.6), squeeze=False)
    for ax, task in zip(axes[0], TASKS):
        for i, cur in enumerate(CURRICULA):
            for j, r in enumerate(r for r in rows if r["task"] == task and r["curriculum"] == cur):
                pts = [(s["n"], s["mean_tau"]) for s in r["solved"]]
                if pts:
                    ax.plot(*zip(*pts), marker="o", ms=3, color=f"C{i}", alpha=0.8,
                            label=f"{cur}-head" if j == 0 else None)
        ax.set_title(f"N-{task}", fontsize=10)
        ax.set_xlabel("N solved")
        ax.set_ylabel("mean tau")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
