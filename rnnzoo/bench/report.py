"""Turn bench records into a markdown leaderboard and PNG plots (matplotlib, Agg backend).

Leaderboard: every accuracy is the mean over seeds with its 95% Student-t interval (``rnnzoo.bench.stats``),
and each row says whether it differs significantly from the best row of its task (Welch's t-test, 5%): rows
marked "n.s." are not told apart from the best by the seeds run. With two or more tasks, a summary ranks
the rows by the mean over tasks of the accuracy normalised by chance, ``(acc - chance) / (1 - chance)``
(0: chance, 1: perfect), so that a task with many possible answers and one with two weigh alike, and shows
each row's rank on every task; then one table per task with its chance level and each row's training
budget (steps, lr, layers, batch).

Plots: accuracy vs recurrent state size for every recall task (the Zoology picture; attention, whose KV
cache grows with T, is a dashed horizontal line), and accuracy vs test length for every task tested at
several lengths (length generalisation / state tracking), with the training length marked. Both draw the
chance level; lines have distinct hollow markers of decreasing size, so lines that coincide stay visible.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from pathlib import Path
from statistics import mean

from rnnzoo.bench.stats import LABEL, differs, interval
from rnnzoo.spec import parse_spec

NORMALISED = "(acc - chance) / (1 - chance)"


def _budget(r: dict) -> tuple:
    """(layers, steps, lr, batch size) of a record: the settings shown beside each row."""
    return r.get("n_layers"), r.get("planned_steps", r.get("steps")), r.get("lr"), r.get("batch_size")


def _group(records: list[dict]) -> dict[str, dict[tuple, list[dict]]]:
    """task spec -> (mixer spec, d_model, *budget) -> records over seeds, in first-seen order."""
    out: dict[str, dict[tuple, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for r in records:
        out[r["task"]][(r["mixer"], r["d_model"], *_budget(r))].append(r)
    return out


def _lengths(rows: dict[tuple, list[dict]]) -> list[str]:
    return sorted({k for rs in rows.values() for r in rs for k in r["accuracy"]}, key=int)


def _values(rs: list[dict], length: str) -> list[float]:
    """The accuracy at ``length`` of each seed's record."""
    return [r["accuracy"][length] for r in rs if length in r["accuracy"]]


def _headlines(rs: list[dict], longest: str) -> list[float]:
    """Each seed's headline score: the task's own (``Task.headline``: the Chomsky tasks' mean over test lengths),
    or, for records that predate it, the accuracy at the longest test length."""
    return [r.get("headline", r["accuracy"].get(longest)) for r in rs if "headline" in r or longest in r["accuracy"]]


def _acc(rs: list[dict], length: str) -> float:
    return mean(_values(rs, length))


def _with_interval(values: list[float]) -> str:
    """"0.812 ± 0.034" (mean, half-width of the 95% t-interval), or "0.812" for a single seed."""
    centre, half = interval(values)
    return f"{centre:.3f}" if half is None else f"{centre:.3f} ± {half:.3f}"


def _versus(values: list[float], best: list[float], is_best: bool) -> str:
    """How a row stands against the best row: "best", "n.s." (not significantly lower), "lower", or "1 seed"."""
    if is_best:
        return "best"
    verdict = differs(values, best)
    return "1 seed" if verdict is None else ("lower" if verdict else "n.s.")


def _chance(rows: dict[tuple, list[dict]]) -> float | None:
    """A task's chance level, from any record that has it; None when every record predates it."""
    return next((r["chance"] for rs in rows.values() for r in rs if r.get("chance") is not None), None)


def _normalised(acc: float, chance: float | None) -> float:
    chance = chance or 0.0  # unknown: the raw accuracy
    return (acc - chance) / (1 - chance) if chance < 1 else 0.0


def _fmt(value: float | None, pattern: str = "{:.3f}") -> str:
    return "unknown" if value is None else pattern.format(value)


def _ranks(values: dict) -> dict:
    """Competition ranks, 1 for the highest value; ties share a rank."""
    ordered = sorted(values.values(), reverse=True)
    return {k: ordered.index(v) + 1 for k, v in values.items()}


def summary(records: list[dict]) -> list[str]:
    """Markdown lines of a mixer x task matrix: accuracy (mean over seeds) at each task's longest test length
    with the row's rank on that task, a chance row, and rows sorted by their mean over tasks of the accuracy
    normalised by chance. One row per (mixer, d_model)."""
    groups = _group(records)
    names = [task.split(":")[0] for task in groups]
    headers = [n if names.count(n) == 1 else task for n, task in zip(names, groups)]
    cells: dict[tuple[str, int], dict[str, float]] = defaultdict(dict)
    seeds: dict[tuple[str, int], dict[str, list[float]]] = defaultdict(dict)
    chance = {task: _chance(rows) for task, rows in groups.items()}
    for task, rows in groups.items():
        longest = _lengths(rows)[-1]
        for (mixer, d_model, *_), rs in rows.items():
            seeds[(mixer, d_model)][task] = _headlines(rs, longest)
            cells[(mixer, d_model)][task] = mean(seeds[(mixer, d_model)][task])
    ranks = {task: _ranks({key: accs[task] for key, accs in cells.items() if task in accs}) for task in groups}
    best = {task: seeds[next(k for k, r in ranks[task].items() if r == 1)][task] for task in groups}
    score = {key: mean(_normalised(a, chance[t]) for t, a in accs.items()) for key, accs in cells.items()}
    order = sorted(cells, key=lambda key: (-score[key], key))
    lines = ["## Summary: each task's score (#rank among the rows): the accuracy at its longest test length, or the "
             "task's published score (Chomsky tasks: the mean over test lengths)", "",
             f"Rows are ranked by the mean over tasks of {NORMALISED}: 0 is chance, 1 is perfect on every task. "
             f"Chance is guessing uniformly among a task's answers. Cells: mean ± {LABEL}; "
             "\"n.s.\": not significantly below the task's best row (Welch's t-test, 5%).", "",
             "| mixer | d_model | " + " | ".join(headers) + " | mean over tasks, normalised |",
             "|---|---:|" + "---:|" * (len(headers) + 1),
             "| *chance* | | " + " | ".join(_fmt(chance[t], "*{:.3f}*") for t in groups) + " | *0.000* |"]
    for key in order:
        mixer, d_model = key
        row = [f"{_with_interval(seeds[key][t])} (#{ranks[t][key]}{_mark(seeds[key][t], best[t], ranks[t][key])})"
               if t in cells[key] else "" for t in groups]
        lines.append(f"| {mixer} | {d_model} | " + " | ".join(row) + f" | {score[key]:.3f} |")
    return lines + [""]


def _mark(values: list[float], best: list[float], rank: int) -> str:
    return ", n.s." if rank > 1 and differs(values, best) is False else ""


def leaderboard(records: list[dict]) -> str:
    """One markdown table per task: accuracy (mean over seeds) at each test length, best first, with the
    task's chance level and each row's budget; with two or more tasks, a mixer x task summary first."""
    lines = ["# rnnzoo bench leaderboard", "",
             f"Accuracy is the mean over seeds ± the {LABEL} (none with one seed). Each row shows its training "
             "budget: layers, optimiser steps, peak learning rate and batch size. \"vs best\" compares a row's "
             "score (its accuracy at the longest test length, or the task's own score column where it has one) "
             "with its task's best row by Welch's t-test at 5%: \"n.s.\" means the seeds run do not tell the "
             "two apart.", ""]
    groups = _group(records)
    if len(groups) > 1:
        lines += summary(records)
    for task, rows in groups.items():
        lengths = _lengths(rows)
        first = next(iter(rows.values()))[0]
        trained = first.get("train_length", first.get("task_config", {}).get("seq_len"))
        # a score column when the task's headline is not simply its longest length (the Chomsky mean)
        scored = any(r.get("headline", r["accuracy"][lengths[-1]]) != r["accuracy"].get(lengths[-1])
                     for rs in rows.values() for r in rs)
        lines += [f"## {task}", "", f"Chance: {_fmt(_chance(rows))} (uniform guess among the task's answers); "
                  f"trained at length {trained}.", "",
                  "| mixer | d_model | layers | steps | lr | batch | state (floats) | params | "
                  + " | ".join(f"acc@{L}" for L in lengths) + (" | score" if scored else "")
                  + " | vs best | seeds | train s |",
                  "|---|" + "---:|" * (10 + len(lengths) + scored)]
        order = sorted(rows.items(), key=lambda kv: (-mean(_headlines(kv[1], lengths[-1])), kv[0][1]))
        best = _headlines(order[0][1], lengths[-1])
        for i, ((mixer, d_model, layers, steps, lr, batch), rs) in enumerate(order):
            state = rs[0]["state_size"]
            failed = sum(1 for r in rs if r.get("diverged"))
            if failed:
                mixer = f"{mixer} (diverged in {failed} of {len(rs)} seeds: scored 0)"
            cells = [mixer, str(d_model), str(layers), str(steps), f"{lr:g}" if lr is not None else "", str(batch),
                     "grows" if state is None else f"{state:,}", f"{rs[0]['params']:,}"]
            cells += [_with_interval(_values(rs, L)) for L in lengths]
            cells += [_with_interval(_headlines(rs, lengths[-1]))] if scored else []
            cells += [_versus(_headlines(rs, lengths[-1]), best, i == 0), str(len(rs)),
                      f"{mean(r['train_seconds'] for r in rs):.0f}"]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")


_TASK_NAMES = {"mqar": "MQAR (multi-query associative recall)", "icll": "In-context language learning"}


def task_title(spec: str) -> str:
    """A plot title for a task spec: its name in words, then its options, e.g. "Parity\\nseq_len 40, ..."."""
    name, options = parse_spec(spec)
    title = _TASK_NAMES.get(name, name.replace("_", " ").capitalize())
    text = ", ".join(f"{k} {'/'.join(map(str, v)) if isinstance(v, tuple) else v}" for k, v in options.items())
    return f"{title}\n{text}" if text else title


def mixer_label(spec: str, d_model: int | None = None) -> str:
    """A legend label for a mixer spec: "deltanet (allow_neg_eigval=True)", plus the width when given."""
    name, _, options = spec.partition(":")
    label = f"{name} ({options.replace(':', ', ')})" if options else name
    return f"{label}, d={d_model}" if d_model is not None else label


def _style(i: int) -> dict:
    """Hollow markers that shrink with i, each (colour, marker) pair used once up to 100 lines, so coinciding
    lines stay visible and every legend entry is told apart."""
    return dict(color=f"C{i % 10}", marker="osD^vp<>h*"[(i + i // 10) % 10], markersize=max(4.0, 11.0 - 1.2 * i),
                markerfacecolor="none", markeredgewidth=1.5, linestyle=("-", "--", ":", "-.")[(i + i // 10) % 4],
                linewidth=1.2)


def _count(value: float, _=None) -> str:
    """A tick label: 3,200 below ten thousand, 25.7k above."""
    return f"{value:,.0f}" if value < 10_000 else f"{value / 1000:.3g}k"


def _spread(values: list[int], min_gap: float) -> list[int]:
    """The values whose log10 is at least ``min_gap`` above the previous kept one (tick labels that fit)."""
    kept: list[int] = []
    for v in sorted(values):
        if not kept or math.log10(v) - math.log10(kept[-1]) >= min_gap:
            kept.append(v)
    return kept


def plot_all(records: list[dict], out_dir: str | Path) -> list[Path]:
    """Write the plots under out_dir/plots/; returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import ticker

    plot_dir = Path(out_dir) / "plots"
    plot_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for task, rows in _group(records).items():
        lengths = _lengths(rows)
        first = next(iter(rows.values()))[0]
        chance = _chance(rows)
        widths = {key[1] for key in rows}
        label = {key: mixer_label(key[0], key[1] if len(widths) > 1 else None) for key in rows}
        if first["task_kind"] == "recall":
            fig, ax = plt.subplots(figsize=(8, 4.5))
            by_mixer: dict[str, list[tuple[int, float]]] = defaultdict(list)
            grows = 0
            for key, rs in rows.items():
                state, acc = rs[0]["state_size"], _acc(rs, lengths[0])
                if state is None:  # one gray shade and dash pattern per line, so that each stays readable
                    ax.axhline(acc, linestyle=("--", "-.", (0, (5, 1, 1, 1, 1, 1)), (0, (8, 3)))[grows % 4],
                               color=str(0.15 + 0.2 * (grows % 4)), linewidth=1.3,
                               label=f"{label[key]} (state grows with T)")
                    grows += 1
                else:
                    by_mixer[mixer_label(key[0])].append((state, acc))
            for i, (mixer, pts) in enumerate(by_mixer.items()):
                pts.sort()
                ax.plot([p[0] for p in pts], [p[1] for p in pts], label=mixer, **_style(i))
            ax.set_xscale("log")
            states = sorted({p[0] for pts in by_mixer.values() for p in pts})
            if states:  # label the measured sizes, leaving out those too close to the previous one to read
                ax.set_xticks(_spread(states, max(0.12, math.log10(states[-1] / states[0]) / 10)))
                ax.xaxis.set_major_formatter(ticker.FuncFormatter(_count))
                ax.xaxis.set_minor_locator(ticker.NullLocator())
                ax.tick_params(axis="x", labelrotation=30)
                if len(states) == 1:
                    ax.set_xlim(states[0] / 2, states[0] * 2)
            ax.set(xlabel="recurrent state size (floats per sequence)",
                   ylabel=f"accuracy at length {lengths[0]}", title=task_title(task))
            paths.append(_finish(fig, ax, chance, plot_dir / f"{_slug(task)}_acc_vs_state.png"))
        if len(lengths) > 1:
            fig, ax = plt.subplots(figsize=(8, 4.5))
            xs = [int(L) for L in lengths]
            for i, (key, rs) in enumerate(rows.items()):
                # lines that coincide (all at 1.0, or all at chance) are dodged sideways, by 3% at most
                dodge = 1.0 + min(0.008, 0.06 / len(rows)) * (i - (len(rows) - 1) / 2)
                ax.plot([x * dodge for x in xs], [_acc(rs, L) for L in lengths], label=label[key], **_style(i))
            trained = first.get("train_length", first.get("task_config", {}).get("seq_len"))
            if trained is not None:
                ax.axvline(trained, color="tab:green", linestyle=":", linewidth=1.5)
                ax.annotate(f"trained at {trained}", (trained, 0.02), xytext=(4, 0), textcoords="offset points",
                            color="tab:green", fontsize=8)
            ax.set_xscale("log", base=2)
            ax.set_xticks(_spread(xs, 0.1))
            ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:.0f}"))
            ax.xaxis.set_minor_locator(ticker.NullLocator())
            ax.set(xlabel="test length (tokens)", ylabel="accuracy", title=task_title(task))
            paths.append(_finish(fig, ax, chance, plot_dir / f"{_slug(task)}_acc_vs_length.png"))
    return paths


def _finish(fig, ax, chance: float | None, path: Path) -> Path:
    """Chance line, y range, legend beside the axes in as many columns as it needs (it never hides a line,
    and the saved image grows to hold it), save."""
    import matplotlib.pyplot as plt

    if chance is not None:
        ax.axhline(chance, color="tab:red", linestyle=(0, (1, 3)), linewidth=1.2, label=f"chance ({chance:.3f})")
    ax.set_ylim(-0.03, 1.03)
    ax.grid(True, alpha=0.3)
    entries = len(ax.get_legend_handles_labels()[0])
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False, ncol=math.ceil(entries / 16))
    fig.set_figheight(max(4.5, 0.25 * min(entries, 16)))
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path
