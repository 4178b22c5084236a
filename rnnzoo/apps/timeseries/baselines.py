"""Classical baselines computed by the app: naive, seasonal naive, least-squares AR(p), 1-NN Euclidean.

Forecasters map input windows x [N, L, C] to forecasts [N, H, C]; channels are forecast independently.
"""

from __future__ import annotations

import numpy as np


def naive(x: np.ndarray, horizon: int) -> np.ndarray:
    """The last observed value repeated: [N, L, C] -> [N, H, C]."""
    return np.repeat(x[:, -1:], horizon, axis=1)


def seasonal_naive(x: np.ndarray, horizon: int, period: int) -> np.ndarray:
    """The last observed season repeated (y_{t+h} = y_{t+h-m*k}); needs L >= period."""
    if x.shape[1] < period:
        raise ValueError(f"seasonal naive needs a lookback of at least the period {period}, got {x.shape[1]}")
    season = x[:, -period:]
    return np.concatenate([season] * (horizon // period + 1), axis=1)[:, :horizon]


def fit_ar(train: np.ndarray, p: int) -> np.ndarray:
    """Least-squares AR(p) per channel of train [T, C] (Classic-AR): coefficients [C, p + 1], the
    intercept last, for y_t = sum_i w_i y_{t-i} + b (w_1 multiplies the most recent value)."""
    if len(train) <= p + 1:
        raise ValueError(f"AR({p}) needs more than {p + 1} training steps, got {len(train)}")
    coef = []
    for c in range(train.shape[1]):
        y = train[:, c]
        design = np.stack([y[p - i - 1:len(y) - i - 1] for i in range(p)] + [np.ones(len(y) - p)], axis=1)
        coef.append(np.linalg.lstsq(design, y[p:], rcond=None)[0])
    return np.stack(coef)


def ar_forecast(x: np.ndarray, coef: np.ndarray, horizon: int) -> np.ndarray:
    """Recursive multi-step forecast of ``fit_ar`` coefficients [C, p + 1] from windows x [N, L, C], L >= p."""
    p = coef.shape[1] - 1
    if x.shape[1] < p:
        raise ValueError(f"AR({p}) needs a lookback of at least {p}, got {x.shape[1]}")
    history = list(np.moveaxis(x[:, -p:], 1, 0))  # p arrays [N, C], oldest first
    out = []
    for _ in range(horizon):
        lags = np.stack(history[::-1][:p], axis=-1)  # [N, C, p], most recent first
        nxt = (lags * coef[:, :p]).sum(-1) + coef[:, p]
        out.append(nxt)
        history.append(nxt)
    return np.stack(out, axis=1)


def nearest_neighbour(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray) -> np.ndarray:
    """1-NN with Euclidean distance over all steps and channels (the UCR archive's standard baseline):
    x_* [N, T, C], y_train [N] -> predicted labels [M]."""
    a, b = x_train.reshape(len(x_train), -1).astype(np.float64), x_test.reshape(len(x_test), -1).astype(np.float64)
    dist = (b ** 2).sum(1)[:, None] - 2 * b @ a.T + (a ** 2).sum(1)[None]
    return y_train[dist.argmin(axis=1)]
