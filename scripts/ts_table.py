"""The time-series results table: models x data sets x seeds, appended one record per run to a JSONL file
(a rerun skips the runs already there), then a markdown table and plots from whatever has finished.

    nice -n 10 python scripts/ts_table.py run                 # every run still missing (1 thread)
    python scripts/ts_table.py report                         # tables into docs/timeseries.md, plots

Runs go in seed-major order (every cell gets seed 0 before any gets seed 1), so a partial run still covers
the whole table. Each run is the CLI's defaults: `rnnzoo ts forecast --data D --model M --seed S`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from rnnzoo.io import append_jsonl, read_jsonl

OUT = Path("results/timeseries/runs.jsonl")
FORECAST = ["airline", "lynx", "sunspots", "co2"]
CLASSIFY = ["gunpoint", "italypowerdemand", "arrowhead", "basicmotions"]
MIXERS = ["lstm", "gru", "mamba", "gated_deltanet", "lmu", "s4d"]
FORECAST_MODELS = ["naive", "seasonal_naive", "ar", "arnet", "tpgn", "chimera", *MIXERS]
CLASSIFY_MODELS = ["1nn", "tpgn", "chimera", *MIXERS]
BASELINES = {"naive", "seasonal_naive", "ar", "1nn"}
PLOTS = Path("docs/timeseries")


def jobs(seeds):
    for seed in seeds:
        for data in FORECAST:
            for model in FORECAST_MODELS:
                if seed == 0 or model not in BASELINES:  # baselines are deterministic
                    yield "forecast", data, model, seed
        for data in CLASSIFY:
            for model in CLASSIFY_MODELS:
                if seed == 0 or model not in BASELINES:
                    yield "classify", data, model, seed


def records(path: Path) -> list[dict]:
    return read_jsonl(path, warn=lambda msg: print(msg, file=sys.stderr))


def run(args) -> None:
    import torch

    from rnnzoo.apps.timeseries import ClassifyConfig, ForecastConfig, classify, forecast
    from rnnzoo.config_args import override

    torch.set_num_threads(1)
    def done() -> set:  # re-read before each run: several processes may share the file
        return {(r["task"], r["data"], r["model"], r["seed"]) for r in records(args.out)}

    todo = [j for j in jobs(args.seeds) if (not args.task or j[0] == args.task) and (not args.data or j[1] in args.data)]
    print(f"{len(set(todo) - done())} runs to go", file=sys.stderr)
    for task, data, model, seed in todo:
        if (task, data, model, seed) in done():
            continue
        start = time.time()
        with tempfile.TemporaryDirectory() as tmp:
            if task == "forecast":
                r = forecast(override(ForecastConfig(), data=data, model=model, seed=seed, progress=False,
                                      out_dir=tmp))
                if seed == 0:
                    _keep_forecast(Path(tmp) / "forecast.npz", data, model, r["horizon"])
            else:
                r = classify(override(ClassifyConfig(), data=data, model=model, seed=seed, progress=False,
                                      out_dir=tmp))
        r.pop("config")
        append_jsonl(args.out, r)
        print(f"{task} {data} {model} seed {seed}: {r['test']} ({time.time() - start:.0f}s)", file=sys.stderr)


def _keep_forecast(npz: Path, data: str, model: str, horizon: int) -> None:
    """Forecasts of non-overlapping test windows (every horizon-th), for the forecast plot."""
    z = np.load(npz)
    keep = slice(0, None, horizon)
    folder = OUT.parent / "forecasts"
    folder.mkdir(parents=True, exist_ok=True)
    start = int(z["valid_end"])
    np.savez_compressed(folder / f"{data}-{model}.npz", pred=z["pred"][keep].astype(np.float32),
                        starts=np.arange(start, start + len(z["pred"]))[keep], series=z["series"])


START, END = "<!-- ts-table:start -->\n", "<!-- ts-table:end -->"


def report(args) -> None:
    """The tables between the markers of ``args.doc`` (printed when the doc has none), and the plots."""
    import contextlib
    import io

    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        _report(args)
    doc = args.doc.read_text() if args.doc.is_file() else ""
    if START in doc and END in doc:
        args.doc.write_text(doc[:doc.index(START) + len(START)] + text.getvalue() + doc[doc.index(END):])
    else:
        print(text.getvalue())


def _report(args) -> None:
    unique = {(r["task"], r["data"], r["model"], r["seed"]): r for r in reversed(records(args.out))}
    rows = list(unique.values())  # the first record of a run, if two processes both ran it
    cells = defaultdict(list)
    for r in rows:
        cells[(r["task"], r["data"], r["model"])].append(r)
    print("### Forecasting: test MASE, mean ± std over seeds (lower is better; < 1 beats the in-sample "
          "seasonal-naive error)\n")
    print(_table(cells, "forecast", FORECAST, FORECAST_MODELS, "mase", lower=True))
    print("\n### Forecasting: test MSE on the standardised scale\n")
    print(_table(cells, "forecast", FORECAST, FORECAST_MODELS, "mse", lower=True))
    print("\n### Classification: test accuracy, mean ± std over seeds\n")
    print(_table(cells, "classify", CLASSIFY, CLASSIFY_MODELS, "accuracy", lower=False))
    published = {r["data"]: r.get("published_1nn") for r in rows if r["task"] == "classify"}
    print("\nPublished 1-NN Euclidean accuracy (UCR archive 2018): " + ", ".join(
        f"{d} {v:.4f}" for d, v in published.items() if v))
    print("\nWall seconds per run, median (max) over data sets and seeds, 1 thread on a shared 2-core machine:\n")
    for task, models in (("forecast", FORECAST_MODELS), ("classify", CLASSIFY_MODELS)):
        walls = {m: [r["wall_seconds"] for r in rows if r["task"] == task and r["model"] == m] for m in models}
        print(f"- {task}: " + ", ".join(f"{m} {np.median(w):.0f} ({max(w):.0f})" for m, w in walls.items() if w))
    prov = next((r["provenance"] for r in rows), None)
    if prov:
        print(f"\nRecords: {len(rows)} runs in {args.out}; commit {str(prov.get('commit'))[:10]}, torch "
              f"{prov.get('torch')}, {prov.get('cpu')}, 1 thread per run.")
    _plots(cells)


def _table(cells, task, sets, models, key, lower) -> str:
    lines = ["| model | " + " | ".join(sets) + " |", "|---|" + "---|" * len(sets)]
    best = {}
    for s in sets:
        means = [np.mean([r["test"][key] for r in cells[(task, s, m)]]) for m in models if cells[(task, s, m)]]
        best[s] = (min if lower else max)(means) if means else None
    for m in models:
        row = []
        for s in sets:
            vals = [r["test"][key] for r in cells[(task, s, m)]]
            if not vals:
                row.append("—")
                continue
            mean = float(np.mean(vals))
            text = f"{mean:.3f}" + (f" ± {np.std(vals):.3f}" if len(vals) > 1 else "") + \
                   (f" ({len(vals)})" if len(vals) < 3 and m not in BASELINES else "")
            row.append(f"**{text}**" if np.isclose(mean, best[s]) else text)
        lines.append(f"| {m} | " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n\n" + _winners(cells, task, sets, models, key, lower)


def _winners(cells, task, sets, models, key, lower) -> str:
    """One line per data set: the best model overall, and the best neural model against the best baseline."""
    out = []
    for s in sets:
        means = {m: float(np.mean([r["test"][key] for r in cells[(task, s, m)]])) for m in models
                 if cells[(task, s, m)]}
        if not means:
            continue
        pick = min if lower else max
        neural = {m: v for m, v in means.items() if m not in BASELINES}
        base = {m: v for m, v in means.items() if m in BASELINES}
        best = pick(means, key=means.get)
        text = f"- {s}: best {best} ({means[best]:.3f})"
        if neural and base:
            n, b = pick(neural, key=neural.get), pick(base, key=base.get)
            beats = (neural[n] < base[b]) if lower else (neural[n] > base[b])
            text += (f"; best neural {n} ({neural[n]:.3f}) {'beats' if beats else 'loses to'} the best "
                     f"baseline {b} ({base[b]:.3f})")
        out.append(text)
    return "Winners (by the mean):\n\n" + "\n".join(out)


def _plots(cells) -> None:
    from rnnzoo.apps.timeseries.plots import plot_forecast, plot_mase

    PLOTS.mkdir(parents=True, exist_ok=True)
    mase = {s: {m: float(np.mean([r["test"]["mase"] for r in cells[("forecast", s, m)]]))
                for m in FORECAST_MODELS if cells[("forecast", s, m)]} for s in FORECAST}
    plot_mase(mase, PLOTS / "mase.png")
    for s in FORECAST:
        preds, series, starts = {}, None, None
        for m in ("seasonal_naive", "ar", "tpgn", "lstm"):
            f = OUT.parent / "forecasts" / f"{s}-{m}.npz"
            if f.is_file():
                z = np.load(f)
                preds[m], series, starts = z["pred"], z["series"], z["starts"]
        if preds:
            plot_forecast(series, starts, preds, PLOTS / f"forecast-{s}.png", f"{s}: test forecasts, seed 0")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=("run", "report"))
    p.add_argument("--out", type=Path, default=OUT, help="the append-only JSONL of runs")
    p.add_argument("--seeds", type=lambda s: [int(x) for x in s.split(",")], default=[0, 1, 2])
    p.add_argument("--doc", type=Path, default=Path("docs/timeseries.md"), help="report: the doc whose "
                   "ts-table markers get the tables")
    p.add_argument("--data", type=lambda s: s.split(","), help="only these data sets (comma-separated)")
    p.add_argument("--task", choices=("forecast", "classify"), help="only this task's runs")
    args = p.parse_args()
    if args.what == "run":
        run(args)
    else:
        report(args)


if __name__ == "__main__":
    main()
