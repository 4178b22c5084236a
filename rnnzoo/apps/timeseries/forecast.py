"""Forecasting: a series split in time order, standardised by its training part, sliding windows, a model
trained on the training windows (best validation MSE kept) and scored on every test window.

```python
result = forecast(ForecastConfig(data="airline", model=TSModelConfig(model="tpgn")))
result["test"]   # {"mae": ..., "mse": ..., "mase": ...}
```

Protocol: train / valid / test are the first 70 %, next 10 %, last 20 % of the series (``valid``, ``test``);
the scaler's mean and std come from the training part only; windows of ``lookback`` inputs and ``horizon``
targets slide by one step, a window belonging to the part its targets lie in (its inputs may reach back);
MAE and MSE are on the standardised scale, MASE divides each channel's MAE by the in-sample MAE of the
seasonal-naive forecast on the training part (period m of the series).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from rnnzoo.apps.timeseries import baselines
from rnnzoo.apps.timeseries.data import Series, load_series
from rnnzoo.apps.timeseries.fit import fit
from rnnzoo.apps.timeseries.metrics import forecast_metrics, seasonal_scale
from rnnzoo.apps.timeseries.models import FORECAST_BASELINES, TSModelConfig, build_model
from rnnzoo.apps.timeseries.splits import Scaler, split_series, windows
from rnnzoo.config_args import option
from rnnzoo.provenance import provenance
from rnnzoo.rundir import open_train_run, write_results
from rnnzoo.train import TrainConfig


def forecast_train() -> TrainConfig:
    """AdamW at 3e-3 with a short warm-up and cosine decay, 300 steps of 32 windows, validation every 25."""
    return TrainConfig(steps=300, lr=3e-3, weight_decay=1e-4, warmup_steps=20, eval_every=25, log_every=25)


@dataclass
class ForecastConfig:
    model: TSModelConfig = option(factory=TSModelConfig)
    train: TrainConfig = option(factory=forecast_train)
    data: str = option("airline", "shipped series: airline, lynx, shampoo (aeon); sunspots, co2, nile "
                                  "(statsmodels); ignored when csv is set")
    csv: str | None = option(None, "a CSV file to forecast instead (with target)")
    target: str | None = option(None, "csv: the column(s) to forecast, comma-separated")
    time: str | None = option(None, "csv: a column to sort the rows by (numbers or ISO dates); None: file order")
    period: int = option(1, "csv: the seasonal period (seasonal naive, MASE); shipped sets know their own")
    horizon: int | None = option(None, "steps forecast; None: the data set's (airline 12, co2 96, csv: period)")
    lookback: int | None = option(None, "input steps; None: the data set's (airline 36, co2 192, csv: 4 periods)")
    ar_order: int | None = option(None, "p of the least-squares AR baseline; None: the period, at most lookback")
    valid: float = option(0.1, "fraction of the series, after train, for validation (best weights)")
    test: float = option(0.2, "final fraction of the series for test")
    batch_size: int = option(32, "windows per step")

    def __post_init__(self) -> None:
        if self.model.model in ("1nn",):
            raise ValueError(f"{self.model.model!r} is a classification baseline; forecast baselines are "
                             f"{FORECAST_BASELINES}")
        for name in ("horizon", "lookback", "ar_order"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1 or None, got {getattr(self, name)}")
        if self.period < 1 or self.batch_size < 1:
            raise ValueError(f"period and batch_size must be >= 1, got {self.period}, {self.batch_size}")
        if self.train.resume:
            raise ValueError("forecast runs are short and cannot be resumed; start again with overwrite")


def load_data(config: ForecastConfig) -> Series:
    return load_series(config.data, csv=config.csv, target=config.target, time=config.time, period=config.period)


def forecast(config: ForecastConfig, series: Series | None = None) -> dict:
    """Run ``config`` (on ``series``, default ``load_data(config)``) and return the results dict, also
    written with ``forecast.npz`` (test inputs, targets, forecasts) to ``train.out_dir`` when set."""
    with open_train_run(config.train) as run:  # an unwritable --out, or one holding a run: refused before data
        series = load_data(config) if series is None else series
        start = time.perf_counter()
        horizon, lookback = config.horizon or series.horizon, config.lookback or series.lookback
        parts = split_series(series.values, config.valid, config.test)
        scaler = Scaler.fit(series.values[:parts.train_end])
        values = scaler.transform(series.values)
        x_test, y_test = windows(values, lookback, horizon, (parts.valid_end, None))
        scale = seasonal_scale(values[:parts.train_end], series.period)
        result = {"task": "forecast", "data": series.name, "source": series.source, "model": config.model.model,
                  "seed": config.train.seed, "horizon": horizon, "lookback": lookback, "period": series.period,
                  "length": len(values), "channels": values.shape[1], "test_windows": len(x_test)}
        if config.model.baseline:
            pred = _baseline(config, values[:parts.train_end], x_test, horizon, series.period, lookback)
        else:
            pred, trained = _train(config, values, parts, lookback, horizon, series.period, run)
            result.update(trained)
        result["test"] = forecast_metrics(pred, y_test, scale)
        result.update(wall_seconds=time.perf_counter() - start, config=dataclasses.asdict(config),
                      provenance=provenance())
        if config.train.out_dir:
            out = Path(config.train.out_dir)
            np.savez(out / "forecast.npz", x=scaler.inverse(x_test), y=scaler.inverse(y_test),
                     pred=scaler.inverse(pred), series=series.values, valid_end=parts.valid_end)
            write_results(out, result)
        return result


def _baseline(config: ForecastConfig, train: np.ndarray, x: np.ndarray, horizon: int, period: int,
              lookback: int) -> np.ndarray:
    name = config.model.model
    if name == "naive":
        return baselines.naive(x, horizon)
    if name == "seasonal_naive":
        return baselines.seasonal_naive(x, horizon, period)
    p = config.ar_order or min(period, lookback)
    return baselines.ar_forecast(x, baselines.fit_ar(train, p), horizon)


def _train(config: ForecastConfig, values: np.ndarray, parts, lookback: int, horizon: int, period: int, run
           ) -> tuple[np.ndarray, dict]:
    torch.manual_seed(config.train.seed)
    x_train, y_train = (torch.as_tensor(a, dtype=torch.float32) for a in
                        windows(values, lookback, horizon, (0, parts.train_end)))
    x_valid, y_valid = (torch.as_tensor(a, dtype=torch.float32) for a in
                        windows(values, lookback, horizon, (parts.train_end, parts.valid_end)))
    net = build_model(config.model, channels=values.shape[1], out=horizon, period=period, lookback=lookback,
                      classify=False)

    def score(model) -> dict[str, float]:
        mse = float(torch.nn.functional.mse_loss(model(x_valid), y_valid))
        return {"score": -mse, "mse": mse}

    out = fit(net, x_train, y_train, torch.nn.functional.mse_loss, config.train,
              config.batch_size, score, run)
    net.eval()
    x_test, _ = windows(values, lookback, horizon, (parts.valid_end, None))
    with torch.no_grad():
        pred = net(torch.as_tensor(x_test, dtype=torch.float32)).double().numpy()
    out.update(params=sum(p.numel() for p in net.parameters()), train_windows=len(x_train))
    return pred, out
