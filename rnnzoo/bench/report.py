"""Turn bench records into a markdown leaderboard and PNG plots (matplotlib, Agg backend).

Plots: accuracy vs recurrent state size for every recall task (the Zoology picture; attention, whose
KV cache grows with T, is a dashed horizontal line), and accuracy vs test length for every task tested
at several lengths (length generalisation / state tracking).
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path
from statistics import mean


def _group(records: list[dict]) -> dict[str, dict[tuple[str, int], list[dict]]]:
    """task spec -> (mixer spec, d_model) -> records over seeds, in first-seen order."""
    out: dict[str, dict[tuple[str, int], list[dict]]] = defaultdict(lambda: defaultdict(list))
    for r in records:
        out[r["task"]][(r["mixer"], r["d_model"])].append(r)
    return out


def _lengths(rows: dict[tuple[str, int], list[dict]]) -> list[str]:
    return sorted({k for rs in rows.values() for r in rs for k in r["accuracy"]}, key=int)


def _acc(rs: list[dict], length: str) -> float:
    return mean(r["accuracy"][length] for r in rs if length in r["accuracy"])


def summary(records: list[dict]) -> list[str]:
    """Markdown lines of a mixer x task matrix: accuracy (mean over seeds) at each task's longest test length,
    rows sorted by their mean over the tasks. One row per (mixer, d_model)."""
    groups = _group(records)
    names = [task.split(":")[0] for task in groups]
    headers = [n if names.count(n) == 1 else task for n, task in zip(names, groups)]
    cells: dict[tuple[str, int], dict[str, float]] = defaultdict(dict)
    for task, rows in groups.items():
        longest = _lengths(rows)[-1]
        for key, rs in rows.items():
            cells[key][task] = _acc(rs, longest)
    order = sorted(cells.items(), key=lambda kv: (-mean(kv[1].values()), kv[0]))
    lines = ["## Summary: accuracy at each task's longest test length", "",
             "| mixer | d_model | " + " | ".join(headers) + " | mean |",
             "|---|---:|" + "---:|" * (len(headers) + 1)]
    for (mixer, d_model), accs in order:
        row = [f"{accs[t]:.3f}" if t in accs else "" for t in groups]
        lines.append(f"| {mixer} | {d_model} | " + " | ".join(row) + f" | {mean(accs.values()):.3f} |")
    return lines + [""]


def leaderboard(records: list[dict]) -> str:
    """One markdown table per task: accuracy (mean over seeds) at each test length, best first; with two
    or more tasks, a mixer x task summary first."""
    lines = ["# rnnzoo bench leaderboard", ""]
    groups = _group(records)
    if len(groups) > 1:
        lines += summary(records)
    for task, rows in groups.items():
        lengths = _lengths(rows)
        lines += [f"## {task}", "",
                  "| mixer | d_model | state (floats) | params | " + " | ".join(f"acc@{L}" for L in lengths)
                  + " | seeds | train s |",
                  "|---|---:|---:|---:|" + "---:|" * len(lengths) + "---:|---:|"]
        order = sorted(rows.items(), key=lambda kv: (-_acc(kv[1], lengths[-1]), kv[0][1]))
        for (mixer, d_model), rs in order:
            state = rs[0]["state_size"]
            failed = sum(1 for r in rs if r.get("diverged"))
            if failed:
                mixer = f"{mixer} (diverged in {failed} of {len(rs)} seeds: scored 0)"
            cells = [mixer, str(d_model), "grows" if state is None else f"{state:,}", f"{rs[0]['params']:,}"]
            cells += [f"{_acc(rs, L):.3f}" for L in lengths]
            cells += [str(len(rs)), f"{mean(r['train_seconds'] for r in rs):.0f}"]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")


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
        kind = next(iter(rows.values()))[0]["task_kind"]
        if kind == "recall":
            fig, ax = plt.subplots(figsize=(6, 4))
            by_mixer: dict[str, list[tuple[int, float]]] = defaultdict(list)
            for (mixer, _), rs in rows.items():
                state = rs[0]["state_size"]
                acc = _acc(rs, lengths[0])
                if state is None:
                    ax.axhline(acc, linestyle="--", color="gray")
                    ax.annotate(mixer, (0.01, acc), xycoords=("axes fraction", "data"), va="bottom", color="gray")
                else:
                    by_mixer[mixer].append((state, acc))
            for mixer, pts in by_mixer.items():
                pts.sort()
                ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=mixer)
            ax.set_xscale("log")
            states = sorted({p[0] for pts in by_mixer.values() for p in pts})
            if states:  # label the measured sizes; decade ticks rarely fall inside the range
                ax.set_xticks(states)
                ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
                ax.xaxis.set_minor_formatter(ticker.NullFormatter())
            ax.set(xlabel="recurrent state size (floats per sequence)", ylabel=f"accuracy (T={lengths[0]})",
                   title=task, ylim=(-0.02, 1.02))
            if by_mixer:
                ax.legend(fontsize=7)
            paths.append(_save(fig, plot_dir / f"{_slug(task)}_acc_vs_state.png"))
        if len(lengths) > 1:
            fig, ax = plt.subplots(figsize=(6, 4))
            for i, ((mixer, d_model), rs) in enumerate(rows.items()):
                ax.plot([int(L) for L in lengths], [_acc(rs, L) for L in lengths], marker="osv^Dpx*"[i % 8],
                        linestyle=("-", "--", ":", "-.")[i % 4], label=f"{mixer} d={d_model}")
            ax.set(xlabel="test length", ylabel="accuracy", title=task, ylim=(-0.02, 1.02))
            ax.legend(fontsize=6 if len(rows) > 10 else 7, ncol=2 if len(rows) > 10 else 1)
            paths.append(_save(fig, plot_dir / f"{_slug(task)}_acc_vs_length.png"))
    return paths


def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
