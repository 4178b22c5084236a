"""``rnnzoo ts forecast`` and ``rnnzoo ts classify``: flags generated from ``ForecastConfig`` and
``ClassifyConfig`` (their nested model and train configs included); the handlers call ``forecast`` and
``classify`` and print the test metrics."""

from __future__ import annotations

import argparse

from rnnzoo.config_args import config_command, from_args

ALIASES = {"n_layers": "--layers", "out_dir": "--out"}


def add_parser(sub) -> None:
    """Register ``ts`` with its ``forecast`` and ``classify`` commands on the subparsers ``sub``."""
    from rnnzoo.apps.timeseries import ClassifyConfig, ForecastConfig
    from rnnzoo.train import RESUME_FIELDS

    ts = sub.add_parser("ts", help="time-series forecasting and classification on shipped or user data")
    tasks = ts.add_subparsers(dest="ts_task", required=True)
    config_command(
        tasks, "forecast", ForecastConfig, call="rnnzoo.apps.timeseries.forecast", func=_cmd_forecast,
        aliases=ALIASES, exclude=RESUME_FIELDS,  # best weights live in memory
        help="forecast a series (aeon/statsmodels sets or a CSV)",
        about="Splits are in time order (70/10/20), the scaler is fitted on the training part; MAE and MSE are on "
              "the standardised scale, MASE against the in-sample seasonal-naive error.",
        examples=["rnnzoo ts forecast --data airline --model tpgn",
                  "rnnzoo ts forecast --data co2 --model mamba --patch-len 8 --out runs/co2",
                  "rnnzoo ts forecast --data sunspots --model seasonal_naive",
                  "rnnzoo ts forecast --csv sales.csv --target units --time date --period 7 --model gru"])
    config_command(
        tasks, "classify", ClassifyConfig, call="rnnzoo.apps.timeseries.classify", func=_cmd_classify,
        aliases=ALIASES, exclude=RESUME_FIELDS, help="classify UCR/UEA series (aeon's shipped sets or a .ts pair)",
        about="The archive's train/test split; a fixed number of steps, scored once on test.",
        examples=["rnnzoo ts classify --data gunpoint --model lstm",
                  "rnnzoo ts classify --data basicmotions --model chimera",
                  "rnnzoo ts classify --data arrowhead --model 1nn",
                  "rnnzoo ts classify --ts path/to/MySet --model gla:num_heads=2 --patch-len 4"])


def _check_out(cfg) -> None:
    if cfg.train.out_dir:  # an unwritable --out, or one holding a run, is refused before the data is read
        from rnnzoo.rundir import check_run_dir

        check_run_dir(cfg.train.out_dir, overwrite=cfg.train.overwrite)


def _cmd_forecast(args: argparse.Namespace) -> int:
    from rnnzoo.apps.timeseries import ForecastConfig, forecast, load_series_for

    cfg = from_args(ForecastConfig, args)
    _check_out(cfg)
    series = load_series_for(cfg)
    print(f"== {series.name} ({series.source}): {len(series.values)} steps x {series.values.shape[1]} channel(s), "
          f"period {series.period}")
    r = forecast(cfg, series)
    print(f"{r['model']}: horizon {r['horizon']}, lookback {r['lookback']}, {r['test_windows']} test windows, "
          f"wall {r['wall_seconds']:.1f}s")
    print("test   " + "  ".join(f"{k}={v:.4f}" for k, v in r["test"].items()))
    return 0


def _cmd_classify(args: argparse.Namespace) -> int:
    from rnnzoo.apps.timeseries import ClassifyConfig, classify, load_labelled_for

    cfg = from_args(ClassifyConfig, args)
    _check_out(cfg)
    data = load_labelled_for(cfg)
    print(f"== {data.name} ({data.source}): {len(data.x_train)} train / {len(data.x_test)} test cases, "
          f"length {data.x_train.shape[1]}, {data.x_train.shape[2]} channel(s), {len(data.classes)} classes")
    r = classify(cfg, data)
    ref = f" (published 1-NN Euclidean: {r['published_1nn']:.4f})" if r["published_1nn"] else ""
    print(f"{r['model']}: wall {r['wall_seconds']:.1f}s")
    print(f"test   accuracy={r['test']['accuracy']:.4f}{ref}")
    return 0
