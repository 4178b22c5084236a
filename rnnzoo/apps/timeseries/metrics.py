"""Forecast errors (MAE, MSE, MASE) and classification accuracy, on numpy arrays."""

from __future__ import annotations

import numpy as np


def mae(pred: np.ndarray, true: np.ndarray) -> float:
    return float(np.abs(pred - true).mean())


def mse(pred: np.ndarray, true: np.ndarray) -> float:
    return float(((pred - true) ** 2).mean())


def seasonal_scale(train: np.ndarray, period: int) -> np.ndarray:
    """The in-sample MAE of the seasonal-naive forecast on train [T, C], per channel [C] (Hyndman &
    Koehler 2006, the MASE denominator); a period the training part cannot hold falls back to 1."""
    m = period if len(train) > period else 1
    scale = np.abs(train[m:] - train[:-m]).mean(axis=0)
    return np.where(scale > 0, scale, 1.0)


def mase(pred: np.ndarray, true: np.ndarray, scale: np.ndarray) -> float:
    """pred, true [..., C]; scale [C] from ``seasonal_scale``: MAE of each channel / its scale, averaged."""
    err = np.abs(pred - true).reshape(-1, true.shape[-1]).mean(axis=0)
    return float((err / scale).mean())


def forecast_metrics(pred: np.ndarray, true: np.ndarray, scale: np.ndarray) -> dict[str, float]:
    """pred, true [N, H, C] on the scaler's standardised scale; scale [C] on the same scale."""
    return {"mae": mae(pred, true), "mse": mse(pred, true), "mase": mase(pred, true, scale)}


def accuracy(pred: np.ndarray, true: np.ndarray) -> float:
    return float((pred == true).mean())
