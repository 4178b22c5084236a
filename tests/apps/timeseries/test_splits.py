import numpy as np
import pytest

from rnnzoo.apps.timeseries import ForecastConfig, forecast
from rnnzoo.apps.timeseries.data import Series
from rnnzoo.apps.timeseries.splits import Scaler, split_series, windows
from rnnzoo.config_args import override


def test_split_is_in_time_order_and_covers_the_series():
    s = split_series(np.zeros((100, 1)), valid=0.1, test=0.2)
    assert (s.train_end, s.valid_end, s.length) == (70, 80, 100)


@pytest.mark.parametrize("valid, test", [(0.0, 0.0), (0.1, 1.5), (-0.1, 0.2), (0.5, 0.5)])
def test_bad_split_fractions_are_refused_naming_the_rule(valid, test):
    with pytest.raises(ValueError, match=r"test in \(0, 1\) with valid \+ test < 1, got valid=.*, test="):
        split_series(np.zeros((100, 1)), valid=valid, test=test)


def test_windows_targets_stay_inside_their_part():
    values = np.arange(100.0)[:, None]
    x, y = windows(values, lookback=10, horizon=5, targets=(80, None))
    assert y.min() >= 80 and y.max() == 99 and len(x) == 16
    np.testing.assert_array_equal(x[0, :, 0], np.arange(70, 80))  # inputs may reach back into the past
    x, y = windows(values, lookback=10, horizon=5, targets=(0, 70))
    assert y.max() < 70 and x.min() == 0
    with pytest.raises(ValueError, match="too short"):
        windows(values, lookback=10, horizon=30, targets=(80, None))


def test_scaler_statistics_come_from_the_training_part_only():
    train = np.array([[0.0], [2.0]])
    scaler = Scaler.fit(train)
    np.testing.assert_allclose((scaler.mean, scaler.std), ([1.0], [1.0]))
    np.testing.assert_allclose(scaler.inverse(scaler.transform(np.array([[5.0]]))), [[5.0]])


def test_forecast_never_reads_the_test_part_when_fitting():
    # two series equal on the train and valid parts, wildly different on test: every fitted thing (scaler,
    # AR coefficients, MASE scale) must match, so their test errors differ only through the test targets
    rng = np.random.default_rng(0)
    base = np.sin(np.arange(120) * 2 * np.pi / 12)[:, None] + 0.1 * rng.normal(size=(120, 1))
    other = base.copy()
    other[96:] *= 50
    cfg = override(ForecastConfig(), model="ar", lookback=24, horizon=6)
    a = forecast(cfg, Series("a", base, 12, 6, 24, "test"))
    b = forecast(cfg, Series("b", other, 12, 6, 24, "test"))
    assert a["test_windows"] == b["test_windows"]
    assert b["test"]["mse"] > 100 * a["test"]["mse"]
    # the scale of the MASE denominator is the training part's: the same for both
    ratio_a = a["test"]["mae"] / a["test"]["mase"]
    assert ratio_a == pytest.approx(b["test"]["mae"] / b["test"]["mase"])
