"""``rnnzoo ts forecast`` and ``rnnzoo ts classify``: flags generated from ``ForecastConfig`` and
``ClassifyConfig`` (their nested model and train configs included); the handlers call ``forecast`` and
``classify`` and print the test metrics."""

from __future__ import annotations

import argparse

from rnnzoo.config_args import add_arguments, from_args

ALIASES = {"n_layers": "--layers", "out_dir": "--out"}


def add_parser(sub) -> None:
    """Register ``ts`` with its ``forecast`` and ``classify`` commands on the subparsers ``sub``."""
    from rnnzoo.apps.timeseries import ClassifyConfig, ForecastConfig
    from rnnzoo.train import RESUME_FIELDS

    ts = sub.add_parser("ts", help="time-series forecasting and classification on shipped or user data")
    tasks = ts.add_subparsers(dest="ts_task", required=True)
    p = tasks.add_parser(
        "forecast", help="forecast a series (aeon/statsmodels sets or a CSV)", usage="%(prog)s [options]",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="From Python: rnnzoo.apps.timeseries.forecast(ForecastConfig(...)); every flag is a field of "
                    "it or of its nested model (TSModelConfig) and train (TrainConfig) configs. Splits are in "
                    "time order (70/10/20), the scaler is fitted on the training part; MAE and MSE are on the "
                    "standardised scale, MASE against the in-sample seasonal-naive error.",
        epilog="examples:\n  rnnzoo ts forecast --data airline --model tpgn\n"
               "  rnnzoo ts forecast --data co2 --model mamba --patch-len 8 --out runs/co2\n"
               "  rnnzoo ts forecast --data sunspots --model seasonal_naive\n"
               "  rnnzoo ts forecast --csv sales.csv --target units --time date --period 7 --model gru")
    add_arguments(p, ForecastConfig, aliases=ALIASES, exclude=RESUME_FIELDS)  # best weights live in memory
    p.set_defaults(func=_cmd_forecast)
    p = tasks.add_parser(
        "classify", help="classify UCR/UEA series (aeon's shipped sets or a .ts pair)", usage="%(prog)s [options]",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="From Python: rnnzoo.apps.timeseries.classify(ClassifyConfig(...)); every flag is a field of "
                    "it or of its nested model (TSModelConfig) and train (TrainConfig) configs. The archive's "
                    "train/test split; a fixed number of steps, scored once on test.",
        epilog="examples:\n  rnnzoo ts classify --data gunpoint --model lstm\n"
               "  rnnzoo ts classify --data basicmotions --model chimera\n"
               "  rnnzoo ts classify --data arrowhead --model 1nn\n"
               "  rnnzoo ts classify --ts path/to/MySet --model gla:num_heads=2 --patch-len 4")
    add_arguments(p, ClassifyConfig, aliases=ALIASES, exclude=RESUME_FIELDS)
    p.set_defaults(func=_cmd_classify)


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
