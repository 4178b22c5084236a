"""Interaction files -> per-user time-ordered item sequences -> leave-one-out splits.

Formats (chosen by file name):
- RecBole atomic ``*.inter``: tab-separated, typed header ``user_id:token  item_id:token  rating:float
  timestamp:float`` (any column order, extra columns ignored; rating optional).
- MovieLens raw: ``u.data`` (ml-100k, tab-separated ``user item rating timestamp``, no header),
  ``ratings.dat`` (ml-1m/10m, ``user::item::rating::timestamp``), ``ratings.csv`` (ml-latest/20m/25m,
  header ``userId,movieId,rating,timestamp``).

Protocol (RecBole's sequential setting ``eval_args: {split: {LS: valid_and_test}, order: TO, mode: full}``):
every interaction is kept (no rating threshold, implicit feedback); each user's interactions are sorted by
timestamp (stable: ties keep file order); users with fewer than ``min_interactions`` (default 5)
interactions are dropped before items are indexed (ml-100k has none: every user rated >= 20 movies);
leave-one-out: the last item is the test target, the second to last the validation target, the rest
is training data; a model sees at most the last ``max_len`` (50) items of history.

Item index 0 is padding; real items are 1..n_items in order of first appearance in the file.

A directory (``--data DIR``) holds one RecBole ``*.inter`` file and optionally a ``*.item`` file of item
attributes (``rec.text``); next to a ``.inter`` file, a ``.item`` of the same stem is read too.

Cold-start protocol (``with_cold_items``): a random fraction of the items is held out of every training
history (removed from each user's training part, so they are never trained on); validation and test targets
stay as they are, and the test history is the filtered training part plus the validation item. Metrics are
then reported over all users, and separately over the users whose target is warm or cold.
"""

from __future__ import annotations

import csv
import dataclasses
import importlib.util
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PAD = 0
_RECBOLE_ML100K = ("dataset_example", "ml-100k", "ml-100k.inter")
_MISSING_RECBOLE = ("the default dataset is MovieLens-100K from the recbole wheel, which is not installed; "
                    "install it with `pip install --no-deps recbole==1.2.1` (only its data files are read) "
                    "or pass a path to a .inter / u.data / ratings.dat / ratings.csv file")


@dataclass
class Interactions:
    """Raw interactions, one entry per row: user and item tokens (strings) and float timestamps."""

    users: list[str]
    items: list[str]
    timestamps: np.ndarray  # [N] float64

    def __len__(self) -> int:
        return len(self.users)


@dataclass
class SequenceData:
    """Per-user item sequences (time order, item ids 1..n_items) and the leave-one-out splits.

    ``sequences[u]``: int64 array of the user's whole history. Training uses ``seq[:-2]``; validation
    predicts ``seq[-2]`` from ``seq[:-2]``; test predicts ``seq[-1]`` from ``seq[:-1]``.
    """

    sequences: list[np.ndarray]
    user_tokens: list[str]
    item_tokens: list[str]  # index -> token; item_tokens[0] == "[PAD]"
    max_len: int = 50
    item_text: list[str] | None = None  # index -> attribute sentence (rec.text); None without a .item file
    cold: np.ndarray | None = None  # [n_items + 1] bool: items held out of training (cold-start protocol)

    @property
    def n_items(self) -> int:
        """Real items (ids 1..n_items); score vectors have n_items + 1 entries, 0 being padding."""
        return len(self.item_tokens) - 1

    @property
    def n_users(self) -> int:
        return len(self.sequences)

    def train_sequences(self) -> list[np.ndarray]:
        """Each user's training part: all but the last two items, cold items removed."""
        if self.cold is None:
            return [s[:-2] for s in self.sequences]
        return [s[:-2][~self.cold[s[:-2]]] for s in self.sequences]

    def split(self, name: str) -> tuple[list[np.ndarray], np.ndarray]:
        """("valid" | "test") -> (histories truncated to max_len, targets [n_users]). The validation history
        is the training part; the test history adds the validation item."""
        cut = {"valid": 2, "test": 1}.get(name)
        if cut is None:
            raise ValueError(f"split must be 'valid' or 'test', got {name!r}")
        train = self.train_sequences()
        histories = [t if cut == 2 else np.append(t, s[-2]) for t, s in zip(train, self.sequences)]
        return [h[-self.max_len:] for h in histories], np.array([s[-cut] for s in self.sequences], dtype=np.int64)

    def with_cold_items(self, fraction: float, seed: int = 0) -> SequenceData:
        """A copy under the cold-start protocol: round(fraction * n_items) items, drawn uniformly with ``seed``,
        never appear in a training history (so each test target is cold with probability ``fraction``)."""
        if not 0 < fraction < 1:
            raise ValueError(f"cold item fraction must be in (0, 1), got {fraction}")
        picked = np.random.default_rng(seed).permutation(np.arange(1, self.n_items + 1))
        cold = np.zeros(self.n_items + 1, dtype=bool)
        cold[picked[: max(1, round(fraction * self.n_items))]] = True
        return dataclasses.replace(self, cold=cold)

    def cold_targets(self, name: str) -> np.ndarray:
        """[n_users] bool: the user's ``name`` split target is a cold item (all False without cold items)."""
        targets = self.split(name)[1]
        return np.zeros(len(targets), dtype=bool) if self.cold is None else self.cold[targets]

    def train_items(self) -> set[int]:
        """Ids of the items that occur in training histories (the ones a text vocabulary may be built from)."""
        return {int(i) for s in self.train_sequences() for i in s}

    def item_popularity(self) -> np.ndarray:
        """[n_items + 1] interaction counts over the training parts only (padding gets 0)."""
        counts = np.zeros(self.n_items + 1, dtype=np.int64)
        for s in self.train_sequences():
            np.add.at(counts, s, 1)
        return counts

    def encode_items(self, tokens: list[str]) -> np.ndarray:
        """Item tokens -> ids (for inference on new histories); unknown tokens raise ValueError."""
        index = {t: i for i, t in enumerate(self.item_tokens) if i != PAD}
        unknown = [t for t in tokens if t not in index]
        if unknown:
            raise ValueError(f"unknown item id(s) {unknown[:10]}{' ...' if len(unknown) > 10 else ''}: "
                             f"not in the training data ({self.n_items} items)")
        return np.array([index[t] for t in tokens], dtype=np.int64)


def default_dataset_path() -> Path:
    """Path of ml-100k.inter inside the installed recbole package (recbole itself is never imported)."""
    spec = importlib.util.find_spec("recbole")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(_MISSING_RECBOLE)
    path = Path(next(iter(spec.submodule_search_locations))).joinpath(*_RECBOLE_ML100K)
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the installed recbole; {_MISSING_RECBOLE}")
    return path


def read_interactions(path: str | Path) -> Interactions:
    """Read a RecBole ``.inter`` or a MovieLens ``u.data`` / ``ratings.dat`` / ``ratings.csv`` file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"interaction file not found: {path}")
    try:
        return _read_interactions(path)
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start} of a read block)") from None


def _read_interactions(path: Path) -> Interactions:
    name = path.name
    with open(path, newline="", encoding="utf-8") as f:
        numeric: tuple[str, ...] = ()  # id columns whose header declares a number (RecBole ``:float``)
        if name.endswith(".inter"):
            rows, header, numeric = _read_atomic(f, path)
        elif name == "ratings.csv" or name.endswith(".csv"):
            reader = csv.reader(f)
            head = next(reader, None)
            header = _columns(head or [], {"user": "userId", "item": "movieId", "time": "timestamp"}, path)
            rows = ((i + 2, r) for i, r in enumerate(reader))
        elif name == "u.data" or name.endswith(".data"):
            header = {"user": 0, "item": 1, "time": 3}
            rows = ((i + 1, line.rstrip("\n").split("\t")) for i, line in enumerate(f))
        elif name.endswith(".dat"):
            header = {"user": 0, "item": 1, "time": 3}
            rows = ((i + 1, line.rstrip("\n").split("::")) for i, line in enumerate(f))
        else:
            raise ValueError(f"{path}: unknown format; expected *.inter (RecBole atomic), u.data, "
                             f"ratings.dat or ratings.csv")
        users, items, times = [], [], []
        width = max(header.values()) + 1
        for line_no, row in rows:
            if not row or row == [""]:
                continue
            if len(row) < width:
                raise ValueError(f"{path}:{line_no}: expected at least {width} fields, got {len(row)}: {row!r}")
            try:
                time = float(row[header["time"]])
            except ValueError:
                time = math.nan
            if not math.isfinite(time):  # a NaN or infinite time would leave the order of the history undefined
                raise ValueError(f"{path}:{line_no}: timestamp {row[header['time']]!r} is not a finite number")
            for key in ("user", "item"):
                value = row[header[key]]
                if not value.strip():
                    raise ValueError(f"{path}:{line_no}: empty {key} id")
                if key in numeric and not _is_number(value):
                    raise ValueError(f"{path}:{line_no}: {key} id {value!r} is not a number (its column is "
                                     f"declared :float)")
            times.append(time)
            users.append(row[header["user"]])
            items.append(row[header["item"]])
    if not users:
        raise ValueError(f"{path}: no interactions (empty file or header only)")
    return Interactions(users, items, np.asarray(times, dtype=np.float64))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_atomic(f, path: Path):
    """RecBole atomic header ``name:type`` per column; returns (numbered rows, column positions, the id
    columns typed as numbers)."""
    first = f.readline()
    if not first.strip():
        raise ValueError(f"{path}: empty file; a RecBole .inter file starts with a header such as "
                         f"'user_id:token\\titem_id:token\\ttimestamp:float'")
    fields = [c.strip() for c in first.rstrip("\n").split("\t")]
    names, types = [], []
    for c in fields:
        if ":" not in c:
            raise ValueError(f"{path}: header field {c!r} is not 'name:type' (RecBole atomic format)")
        names.append(c.split(":", 1)[0])
        types.append(c.split(":", 1)[1])
    header = _columns(names, {"user": "user_id", "item": "item_id", "time": "timestamp"}, path)
    numeric = tuple(k for k in ("user", "item") if types[header[k]] == "float")
    return ((i + 2, line.rstrip("\n").split("\t")) for i, line in enumerate(f)), header, numeric


def _columns(names: list[str], wanted: dict[str, str], path: Path) -> dict[str, int]:
    missing = [col for col in wanted.values() if col not in names]
    if missing:
        with open(path, encoding="utf-8", errors="replace") as f:
            header = f.readline()
        hint = " (it looks comma-separated; .inter files are tab-separated)" if "," in header and "\t" not in header \
            else ""
        raise ValueError(f"{path}: missing column(s) {missing}; header has {names}{hint}")
    return {key: names.index(col) for key, col in wanted.items()}


def build_sequences(inter: Interactions, min_interactions: int = 5, max_len: int = 50) -> SequenceData:
    """Group by user, sort by time, drop users with < ``min_interactions``, index items (0 = padding)."""
    if min_interactions < 3:
        raise ValueError(f"min_interactions must be >= 3 (leave-one-out needs train, valid, test), "
                         f"got {min_interactions}")
    if max_len < 1:
        raise ValueError(f"max_len must be >= 1, got {max_len}")
    by_user: dict[str, list[int]] = {}
    for row, user in enumerate(inter.users):
        by_user.setdefault(user, []).append(row)
    kept = {u: rows for u, rows in by_user.items() if len(rows) >= min_interactions}
    if not kept:
        raise ValueError(f"no user has >= {min_interactions} interactions ({len(by_user)} users in the file)")
    keep_rows = np.sort(np.concatenate([np.asarray(r) for r in kept.values()]))
    item_index: dict[str, int] = {}
    for row in keep_rows:  # first appearance in file order, as RecBole remaps tokens
        item_index.setdefault(inter.items[row], len(item_index) + 1)
    sequences = []
    for rows in kept.values():
        rows = np.asarray(rows)
        rows = rows[np.argsort(inter.timestamps[rows], kind="stable")]
        sequences.append(np.array([item_index[inter.items[r]] for r in rows], dtype=np.int64))
    item_tokens = ["[PAD]"] + list(item_index)
    return SequenceData(sequences, list(kept), item_tokens, max_len)


def dataset_files(path: str | Path) -> tuple[Path, Path | None]:
    """A data argument -> (interaction file, ``.item`` file or None). A directory must hold exactly one
    ``*.inter`` file and at most one ``*.item``; a ``x.inter`` file takes ``x.item`` beside it when present."""
    path = Path(path)
    if path.is_dir():
        inter, items = sorted(path.glob("*.inter")), sorted(path.glob("*.item"))
        if len(inter) != 1 or len(items) > 1:
            raise ValueError(f"{path}: a data directory holds one RecBole *.inter file and at most one *.item "
                             f"file; found {[p.name for p in inter + items]}")
        return inter[0], items[0] if items else None
    item = path.with_suffix(".item")
    return path, item if path.suffix == ".inter" and item.is_file() else None


def load_dataset(path: str | Path | None = None, min_interactions: int = 5, max_len: int = 50) -> SequenceData:
    """Read ``path`` (a file or a RecBole atomic directory; default: ml-100k from the recbole wheel) and build
    the leave-one-out sequences, with the item sentences when there is a ``.item`` file."""
    from rnnzoo.apps.rec.text import read_item_text

    inter, item = dataset_files(path or default_dataset_path())
    data = build_sequences(read_interactions(inter), min_interactions, max_len)
    if item is not None:
        try:
            data.item_text = read_item_text(item, data.item_tokens)
        except UnicodeDecodeError as e:
            raise ValueError(f"{item}: not UTF-8 text ({e.reason} at byte {e.start} of a read block)") from None
    return data
