"""Time series read from files: the sets shipped in the aeon and statsmodels wheels, a user's CSV, UCR ``.ts``.

```python
series = load_series("airline")                       # Series: values [144, 1], period 12
series = load_series(csv="sales.csv", target="units", time="date")
data = load_labelled("gunpoint")                      # Labelled: x_train [50, 150, 1], y_train [50], ...
data = load_labelled(ts="MySet")                      # MySet_TRAIN.ts / MySet_TEST.ts
```

Shipped sets are read as files from the installed wheels (never imported); install them with
``pip install --no-deps aeon==1.6.0 statsmodels==0.15.0``. Missing values: a gap (empty cell or NaN) inside a
series is filled by linear interpolation between its neighbours (co2 has 59 missing weeks); a gap at either
end, a non-numeric cell, a missing column, or a series too short for its window is refused with a ValueError
naming the file and the problem. ``.ts`` series of unequal length are right-padded with their last value.
"""

from __future__ import annotations

import csv
import importlib.util
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class Series:
    """A forecasting series: ``values`` [T, C] float64 in time order, its seasonal ``period`` (for
    seasonal naive and MASE) and the default ``horizon`` and ``lookback`` windows."""

    name: str
    values: np.ndarray
    period: int
    horizon: int
    lookback: int
    source: str


@dataclass
class Labelled:
    """A classification set: x_* [N, T, C] float32, y_* [N] int64 class indices into ``classes``."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: list[str]
    source: str


# name -> (wheel, path inside the wheel, value columns, period, horizon, lookback)
FORECAST_SETS = {
    "airline": ("aeon", "datasets/data/Airline/Airline.csv", ["Passengers"], 12, 12, 36),
    "lynx": ("aeon", "datasets/data/Lynx/Lynx.csv", ["0"], 10, 10, 30),
    "shampoo": ("aeon", "datasets/data/ShampooSales/ShampooSales.csv", ["Sales"], 12, 6, 12),
    "sunspots": ("statsmodels", "datasets/sunspots/sunspots.csv", ["SUNACTIVITY"], 11, 11, 44),
    "co2": ("statsmodels", "datasets/co2/co2.csv", ["co2"], 52, 96, 192),
    "nile": ("statsmodels", "datasets/nile/nile.csv", ["volume"], 1, 5, 20),
}
# name -> (UCR/UEA problem name in aeon's data folder, published 1-NN Euclidean test accuracy from the UCR
# archive's 2018 table, or None where this module does not quote one: the multivariate UEA sets)
CLASSIFY_SETS = {
    "gunpoint": ("GunPoint", 0.9133),
    "italypowerdemand": ("ItalyPowerDemand", 0.9553),
    "arrowhead": ("ArrowHead", 0.8000),
    "basicmotions": ("BasicMotions", None),
    "japanesevowels": ("JapaneseVowels", None),
    "osuleaf": ("OSULeaf", 0.5207),
}
_INSTALL = "install it with `pip install --no-deps aeon==1.6.0 statsmodels==0.15.0` (only data files are read)"


def wheel_file(package: str, relative: str) -> Path:
    """The file ``relative`` inside the installed ``package`` (located, not imported)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(f"the data set needs the {package} wheel, which is not installed; {_INSTALL}")
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.is_file():
        raise ValueError(f"{path} is missing from the installed {package} wheel; {_INSTALL}")
    return path


def load_series(name: str | None = None, *, csv: str | None = None, target: str | None = None,
                time: str | None = None, period: int = 1) -> Series:
    """A shipped series by ``name`` (see ``FORECAST_SETS``) or a user's ``csv`` with ``target`` column(s)
    (comma-separated for several channels), rows sorted by the ``time`` column when given."""
    if csv is not None:
        if not target:
            raise ValueError("a CSV series needs target: the column(s) to forecast")
        values = read_csv_columns(Path(csv), target.split(","), time)
        return Series(Path(csv).stem, values, period, horizon=max(1, period), lookback=4 * max(1, period),
                      source=str(csv))
    if name not in FORECAST_SETS:
        raise ValueError(f"unknown forecasting data set {name!r}; shipped sets are {sorted(FORECAST_SETS)} "
                         f"(or pass a CSV file)")
    package, relative, columns, p, horizon, lookback = FORECAST_SETS[name]
    path = wheel_file(package, relative)
    return Series(name, read_csv_columns(path, columns), p, horizon, lookback, f"{package}: {relative}")


def read_csv_columns(path: Path, columns: list[str], time: str | None = None) -> np.ndarray:
    """The named numeric ``columns`` of the CSV file at ``path`` as [T, C] float64 (inner gaps interpolated)."""
    if not path.is_file():
        raise ValueError(f"CSV file {path} " + ("is a directory" if path.is_dir() else "does not exist"))
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    if not rows:
        raise ValueError(f"{path} is empty")
    header = [h.strip() for h in rows[0]]
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    if repeated:
        raise ValueError(f"{path}: column(s) {repeated} named more than once in target")
    missing = [c for c in [*columns, *([time] if time else [])] if c not in header]
    if missing:
        raise ValueError(f"{path} has no column {missing[0]!r}; its columns are {header}")
    index = [header.index(c) for c in columns]
    values = np.empty((len(rows) - 1, len(columns)))
    for i, row in enumerate(rows[1:]):
        for j, k in enumerate(index):
            cell = row[k].strip() if k < len(row) else ""
            try:
                values[i, j] = float(cell) if cell and cell.lower() not in ("nan", "na") else math.nan
            except ValueError:
                raise ValueError(f"{path} line {i + 2}, column {columns[j]!r}: {cell!r} is not a number") from None
    if np.isinf(values).any():
        raise ValueError(f"{path}: column(s) {columns} hold an infinite value")
    if time:
        keys = [row[header.index(time)] for row in rows[1:]]
        values = values[sorted(range(len(keys)), key=_sort_key(keys, f"{path} column {time!r}"))]
    return fill_gaps(values, str(path))


_ISO_DATE = re.compile(r"\d{4}(-\d{2}){0,2}([T ][0-9:.]*)?(Z|[+-]\d{2}:?\d{2})?")


def _sort_key(keys: list[str], where: str):
    """Sort key over row indices: the keys as numbers, else as ISO dates (which sort as text)."""
    try:
        numbers = [float(k) for k in keys]
        return lambda i: numbers[i]
    except ValueError:
        pass
    bad = next((k for k in keys if not _ISO_DATE.fullmatch(k.strip())), None)
    if bad is not None:
        raise ValueError(f"{where}: {bad!r} is neither a number nor an ISO date (2020-01-31, 2020-01, "
                         f"2020-01-31T12:00); the time column must hold one or the other")
    return lambda i: keys[i].strip()


def fill_gaps(values: np.ndarray, where: str) -> np.ndarray:
    """values [T, C] with NaNs inside each column linearly interpolated; NaNs at either end are refused."""
    out = values.copy()
    for j in range(values.shape[1]):
        bad = np.isnan(out[:, j])
        if not bad.any():
            continue
        if bad.all() or bad[0] or bad[-1]:
            raise ValueError(f"{where}: column {j} has missing values at its start or end (only gaps inside a "
                             f"series are interpolated); trim the file")
        t = np.arange(len(out))
        out[bad, j] = np.interp(t[bad], t[~bad], out[~bad, j])
    return out


def load_labelled(name: str | None = None, *, ts: str | None = None) -> Labelled:
    """A shipped UCR/UEA set by ``name`` (see ``CLASSIFY_SETS``), or ``ts``: a path prefix with
    ``<ts>_TRAIN.ts`` and ``<ts>_TEST.ts`` beside it."""
    if ts is not None:
        train, test, source = Path(f"{ts}_TRAIN.ts"), Path(f"{ts}_TEST.ts"), str(ts)
    elif name in CLASSIFY_SETS:
        problem = CLASSIFY_SETS[name][0]
        train = wheel_file("aeon", f"datasets/data/{problem}/{problem}_TRAIN.ts")
        test, source = train.with_name(f"{problem}_TEST.ts"), f"aeon: datasets/data/{problem}"
    else:
        raise ValueError(f"unknown classification data set {name!r}; shipped sets are {sorted(CLASSIFY_SETS)} "
                         f"(or pass a .ts path prefix)")
    x_train, labels_train, declared = read_ts(train)
    x_test, labels_test, _ = read_ts(test)
    if x_train.shape[2] != x_test.shape[2]:
        raise ValueError(f"{train} has {x_train.shape[2]} channels but {test} has {x_test.shape[2]}")
    length = max(x_train.shape[1], x_test.shape[1])
    x_train, x_test = _pad_to(x_train, length), _pad_to(x_test, length)
    classes = declared or sorted(set(labels_train) | set(labels_test))
    unknown = sorted(set(labels_train + labels_test) - set(classes))
    if unknown:
        raise ValueError(f"{train}: labels {unknown[:3]} are not among the declared classes {classes}")
    index = {c: i for i, c in enumerate(classes)}
    return Labelled(name or Path(ts).name, x_train, np.array([index[c] for c in labels_train]), x_test,
                    np.array([index[c] for c in labels_test]), classes, source)


def read_ts(path: Path) -> tuple[np.ndarray, list[str], list[str]]:
    """A ``.ts`` file (sktime/aeon format: ``@`` header, then one case per line, channels separated by ``:``,
    the label last) -> (x [N, T, C] float32, labels, declared class labels)."""
    if not path.is_file():
        raise ValueError(f".ts file {path} does not exist")
    declared, cases, labels, in_data = [], [], [], False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if not in_data:
            low = line.lower()
            if low.startswith("@classlabel"):
                declared = line.split()[2:]
            in_data = low.startswith("@data")
            continue
        *channels, label = line.split(":")
        if not channels:
            raise ValueError(f"{path} line {number}: expected channels and a label separated by ':'")
        try:
            case = [np.array([float(v) for v in c.split(",")]) for c in channels]
        except ValueError:
            raise ValueError(f"{path} line {number}: a value is not a number") from None
        lengths = {len(c) for c in case}
        if len(lengths) > 1:
            raise ValueError(f"{path} line {number}: channels of one case differ in length {sorted(lengths)}")
        case = np.stack(case, axis=1)
        cases.append(fill_gaps(case, f"{path} line {number}"))
        labels.append(label.strip())
    if not cases:
        raise ValueError(f"{path} holds no cases (no lines after @data)")
    if len({c.shape[1] for c in cases}) > 1:
        raise ValueError(f"{path}: cases differ in their number of channels")
    length = max(len(c) for c in cases)
    return np.stack([_pad_to(c[None], length)[0] for c in cases]).astype(np.float32), labels, declared


def _pad_to(x: np.ndarray, length: int) -> np.ndarray:
    """x [N, T, C] right-padded to ``length`` steps with each case's last value."""
    if x.shape[1] == length:
        return x
    return np.concatenate([x, np.repeat(x[:, -1:], length - x.shape[1], axis=1)], axis=1)
