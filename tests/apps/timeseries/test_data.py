import numpy as np
import pytest

from rnnzoo.apps.timeseries.data import CLASSIFY_SETS, FORECAST_SETS, load_labelled, load_series, read_ts

SERIES_SHAPES = {"airline": 144, "lynx": 114, "shampoo": 36, "sunspots": 309, "co2": 2284, "nile": 100}
LABELLED_SHAPES = {"gunpoint": ((50, 150, 1), (150, 150, 1), 2), "italypowerdemand": ((67, 24, 1), (1029, 24, 1), 2),
                   "arrowhead": ((36, 251, 1), (175, 251, 1), 3), "basicmotions": ((40, 100, 6), (40, 100, 6), 4),
                   "japanesevowels": ((270, 29, 12), (370, 29, 12), 9), "osuleaf": ((200, 427, 1), (242, 427, 1), 6)}


@pytest.mark.parametrize("name", sorted(FORECAST_SETS))
def test_each_shipped_series_loads(name):
    s = load_series(name)
    assert s.values.shape == (SERIES_SHAPES[name], 1)
    assert np.isfinite(s.values).all()
    assert s.lookback + s.horizon < 0.7 * len(s.values)


def test_co2_gaps_are_interpolated_between_neighbours():
    s = load_series("co2")  # 59 empty weeks in the file
    assert 310 < s.values.min() and s.values.max() < 380


@pytest.mark.parametrize("name", sorted(CLASSIFY_SETS))
def test_each_shipped_labelled_set_loads(name):
    d = load_labelled(name)
    train, test, k = LABELLED_SHAPES[name]
    assert d.x_train.shape == train and d.x_test.shape == test and len(d.classes) == k
    assert d.y_train.min() >= 0 and d.y_train.max() < k and np.isfinite(d.x_train).all()


def _csv(tmp_path, text):
    path = tmp_path / "s.csv"
    path.write_text(text)
    return str(path)


def test_user_csv_sorted_by_time_with_an_inner_gap_filled(tmp_path):
    path = _csv(tmp_path, "date,y,z\n2020-03,3,1\n2020-01,1,1\n2020-02,,1\n2020-04,4,1\n")
    s = load_series(csv=path, target="y,z", time="date", period=2)
    np.testing.assert_allclose(s.values, [[1, 1], [2, 1], [3, 1], [4, 1]])
    assert s.period == 2


@pytest.mark.parametrize("text, target, message", [
    ("a,b\n1,2\n", "y", "no column 'y'"),
    ("y\n1\nabc\n3\n", "y", "line 3, column 'y': 'abc' is not a number"),
    ("y\nnan\n1\n2\n", "y", "missing values at its start or end"),
    ("y\n1\n2\n", "", "needs target"),
    ("y\n1\ninf\n", "y", "infinite"),
    ("y,z\n1,2\n3,4\n", "y,z,y", r"\['y'\] named more than once"),
])
def test_bad_csv_is_refused_naming_the_problem(tmp_path, text, target, message):
    with pytest.raises(ValueError, match=message):
        load_series(csv=_csv(tmp_path, text), target=target)


def test_time_column_neither_numbers_nor_dates_is_refused(tmp_path):
    path = _csv(tmp_path, "date,y\n2020-01,1\nsoon,2\n2020-03,3\n")
    with pytest.raises(ValueError, match="column 'date': 'soon' is neither a number nor an ISO date"):
        load_series(csv=path, target="y", time="date")


def test_missing_csv_and_unknown_names_are_refused(tmp_path):
    with pytest.raises(ValueError, match="is a directory"):
        load_series(csv=str(tmp_path), target="y")
    with pytest.raises(ValueError, match="does not exist"):
        load_series(csv=str(tmp_path / "none.csv"), target="y")
    with pytest.raises(ValueError, match="unknown forecasting data set 'nope'"):
        load_series("nope")
    with pytest.raises(ValueError, match="unknown classification data set"):
        load_labelled("nope")


def test_ts_files_unequal_lengths_padded_and_errors_named(tmp_path):
    good = tmp_path / "X_TRAIN.ts"
    good.write_text("@problemName X\n@classLabel true a b\n@data\n1,2,3:4,5,6:a\n7,8:9,10:b\n")
    x, labels, declared = read_ts(good)
    assert x.shape == (2, 3, 2) and labels == ["a", "b"] and declared == ["a", "b"]
    np.testing.assert_allclose(x[1, :, 0], [7, 8, 8])  # padded with the last value
    (tmp_path / "X_TEST.ts").write_text("@classLabel true a b\n@data\n1,2,3:4,5,6:c\n")
    with pytest.raises(ValueError, match="not among the declared classes"):
        load_labelled(ts=str(tmp_path / "X"))
    bad = tmp_path / "B.ts"
    bad.write_text("@data\n1,x,3:a\n")
    with pytest.raises(ValueError, match="line 2: a value is not a number"):
        read_ts(bad)
