import numpy as np
import pytest
import torch

from rnnzoo.apps.rec import data as rec_data
from rnnzoo.apps.rec.batches import eval_batch, train_windows
from rnnzoo.apps.rec.data import load_dataset, read_interactions
from rnnzoo.labels import IGNORE

# user a: 6 items out of time order; b: 5 items with a timestamp tie (file order kept); c: 4 items (dropped).
ROWS = [("a", "i3", 30), ("b", "i1", 5), ("a", "i1", 10), ("c", "i9", 1), ("a", "i2", 20), ("b", "i4", 5),
        ("a", "i5", 50), ("c", "i8", 2), ("a", "i4", 40), ("b", "i2", 1), ("c", "i7", 3), ("a", "i6", 60),
        ("b", "i6", 9), ("c", "i6", 4), ("b", "i3", 7)]


def write_inter(path, rows=ROWS, header="user_id:token\titem_id:token\trating:float\ttimestamp:float"):
    lines = [header] + [f"{u}\t{i}\t4\t{t}" for u, i, t in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def inter_file(tmp_path):
    return write_inter(tmp_path / "tiny.inter")


def test_reader_filter_and_leave_one_out(inter_file):
    data = load_dataset(inter_file, min_interactions=5, max_len=3)
    assert data.user_tokens == ["a", "b"]  # c has 4 interactions: dropped
    # items indexed by first appearance among kept rows; i9, i8, i7 (only user c) are not items
    assert data.item_tokens == ["[PAD]", "i3", "i1", "i2", "i4", "i5", "i6"]
    tok = lambda ids: [data.item_tokens[i] for i in ids]  # noqa: E731
    assert tok(data.sequences[0]) == ["i1", "i2", "i3", "i4", "i5", "i6"]
    assert tok(data.sequences[1]) == ["i2", "i1", "i4", "i3", "i6"]  # tie at t=5: i1 before i4 (file order)
    assert [tok(s) for s in data.train_sequences()] == [["i1", "i2", "i3", "i4"], ["i2", "i1", "i4"]]
    hist, tgt = data.split("valid")
    assert [tok(h) for h in hist] == [["i2", "i3", "i4"], ["i2", "i1", "i4"]]  # max_len=3 keeps the last 3
    assert tok(tgt) == ["i5", "i3"]
    hist, tgt = data.split("test")
    assert [tok(h) for h in hist] == [["i3", "i4", "i5"], ["i1", "i4", "i3"]]
    assert tok(tgt) == ["i6", "i6"]
    assert data.item_popularity().tolist() == [0, 1, 2, 2, 2, 0, 0]
    with pytest.raises(ValueError, match="split"):
        data.split("train")


def test_min_interactions_keeps_user_with_exactly_min(inter_file):
    assert load_dataset(inter_file, min_interactions=4).user_tokens == ["a", "b", "c"]
    with pytest.raises(ValueError, match=">= 3"):
        load_dataset(inter_file, min_interactions=2)


def test_movielens_raw_formats_agree(tmp_path, inter_file):
    ids = {"a": "1", "b": "2", "c": "3"}
    (tmp_path / "u.data").write_text("".join(f"{ids[u]}\t{i[1:]}\t4\t{t}\n" for u, i, t in ROWS))
    (tmp_path / "ratings.dat").write_text("".join(f"{ids[u]}::{i[1:]}::4::{t}\n" for u, i, t in ROWS))
    (tmp_path / "ratings.csv").write_text("userId,movieId,rating,timestamp\n"
                                          + "".join(f"{ids[u]},{i[1:]},4.0,{t}\n" for u, i, t in ROWS))
    ref = read_interactions(inter_file)
    for name in ("u.data", "ratings.dat", "ratings.csv"):
        got = read_interactions(tmp_path / name)
        assert got.users == [ids[u] for u in ref.users]
        assert got.items == [i[1:] for i in ref.items]
        np.testing.assert_array_equal(got.timestamps, ref.timestamps)


def test_atomic_header_any_order_extra_columns(tmp_path):
    path = tmp_path / "x.inter"
    path.write_text("timestamp:float\tfoo:token\titem_id:token\tuser_id:token\n3\tz\tq\tu\n1\tz\tp\tu\n")
    inter = read_interactions(path)
    assert inter.users == ["u", "u"] and inter.items == ["q", "p"] and inter.timestamps.tolist() == [3.0, 1.0]


@pytest.mark.parametrize("text, match", [
    ("", "empty file"),
    ("user_id:token\titem_id:token\ttimestamp:float\n", "no interactions"),
    ("user_id:token\titem_id:token\trating:float\n1\t2\t3\n", r"missing column\(s\) \['timestamp'\]"),
    ("user_id\titem_id\ttimestamp\n1\t2\t3\n", "not 'name:type'"),
    ("user_id:token\titem_id:token\ttimestamp:float\n1\t2\tyesterday\n", r"x.inter:2: timestamp 'yesterday'"),
    ("user_id:token\titem_id:token\ttimestamp:float\n1\t2\n", r"x.inter:2: expected at least 3 fields"),
])
def test_malformed_inter_files(tmp_path, text, match):
    path = tmp_path / "x.inter"
    path.write_text(text)
    with pytest.raises(ValueError, match=match):
        read_interactions(path)


def test_malformed_raw_files(tmp_path):
    (tmp_path / "ratings.csv").write_text("userId,itemId,timestamp\n1,2,3\n")
    with pytest.raises(ValueError, match=r"missing column\(s\) \['movieId'\]"):
        read_interactions(tmp_path / "ratings.csv")
    (tmp_path / "u.data").write_text("1\t2\t3\tnoon\n")
    with pytest.raises(ValueError, match="u.data:1: timestamp 'noon'"):
        read_interactions(tmp_path / "u.data")
    (tmp_path / "r.json").write_text("{}")
    with pytest.raises(ValueError, match="unknown format"):
        read_interactions(tmp_path / "r.json")
    with pytest.raises(FileNotFoundError):
        read_interactions(tmp_path / "missing.inter")


def test_unknown_items_at_inference(inter_file):
    data = load_dataset(inter_file)
    assert data.encode_items(["i6", "i1"]).tolist() == [6, 2]
    with pytest.raises(ValueError, match=r"unknown item id\(s\) \['i9'\]"):
        data.encode_items(["i1", "i9"])  # i9 only appears for the dropped user c


def test_missing_recbole_gives_install_hint(monkeypatch):
    monkeypatch.setattr(rec_data.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match=r"pip install --no-deps recbole"):
        load_dataset()


def test_train_windows_cover_each_target_once(inter_file):
    data = load_dataset(inter_file, max_len=2)
    seq, lengths, labels = train_windows(data, cloze=False)
    # user a train part [1 2 3 4] -> windows (from the end) [2 3 | 3 4], [1 | 2]; b: [2 1 4] -> [2 1 | 1 4]
    a = data.train_sequences()[0]
    assert seq[:2].tolist() == [[a[1], a[2]], [a[0], 0]] and lengths[:2].tolist() == [2, 1]
    assert labels[:2].tolist() == [[a[2], a[3]], [a[1], IGNORE]]
    targets = sorted(int(t) for t in labels[labels != IGNORE])
    expected = sorted(int(t) for s in data.train_sequences() for t in s[1:])
    assert targets == expected
    cseq, clen, clab = train_windows(data, cloze=True)
    assert torch.equal(cseq, torch.where(clab == IGNORE, 0, clab)) and clen.tolist() == [2, 2, 2, 1]


def test_eval_batch_appends_mask(inter_file):
    data = load_dataset(inter_file, max_len=3)
    seq, lengths, targets = eval_batch(data, "test", mask_token=99)
    hist, tgt = data.split("test")
    assert seq[0].tolist() == [*hist[0][-2:], 99] and lengths.tolist() == [3, 3]
    assert torch.equal(targets, torch.as_tensor(tgt))


def _assert_filtered_prefixes(data, train):
    """Each training part is the user's sequence minus its last two items, with the cold items left out."""
    for full, part in zip(data.sequences, train):
        keep = [i for i in full[:-2] if data.cold is None or not data.cold[i]]
        assert list(part) == keep


@pytest.mark.parametrize("cold", [0.0, 0.3])
def test_no_valid_or_test_interaction_in_training_histories(cold):
    data = load_dataset()
    data = data.with_cold_items(cold, seed=1) if cold else data
    train = data.train_sequences()
    _assert_filtered_prefixes(data, train)
    windows, lengths, labels = train_windows(data, cloze=False)
    trained = set(windows[windows != 0].tolist()) | set(labels[labels != IGNORE].tolist())
    if cold:
        cold_ids = set(np.flatnonzero(data.cold).tolist())
        assert not trained & cold_ids and not any(set(p.tolist()) & cold_ids for p in train)
        assert data.item_popularity()[data.cold].sum() == 0
        n_cold = data.cold_targets("test").sum()
        assert 0 < n_cold < data.n_users and n_cold == data.cold[data.split("test")[1]].sum()
    valid_hist, valid_t = data.split("valid")
    test_hist, test_t = data.split("test")
    for u, seq in enumerate(data.sequences):
        assert valid_t[u] == seq[-2] and test_t[u] == seq[-1]
        assert list(valid_hist[u]) == list(train[u][-data.max_len:])
        assert list(test_hist[u]) == list(np.append(train[u], seq[-2])[-data.max_len:])


def test_cold_split_is_seeded_and_checked():
    data = load_dataset()
    a, b = data.with_cold_items(0.2, seed=3), data.with_cold_items(0.2, seed=3)
    assert np.array_equal(a.cold, b.cold) and a.cold.sum() == round(0.2 * data.n_items) and not a.cold[0]
    assert not np.array_equal(a.cold, data.with_cold_items(0.2, seed=4).cold)
    with pytest.raises(ValueError, match="cold item fraction"):
        data.with_cold_items(1.0)


@pytest.mark.parametrize("text, match", [
    ("user_id:float\titem_id:token\ttimestamp:float\nu1\t2\t3\n", r"x.inter:2: user id 'u1' is not a number"),
    ("user_id:token\titem_id:float\ttimestamp:float\n1\tabc\t3\n", r"x.inter:2: item id 'abc' is not a number"),
    ("user_id:token\titem_id:token\ttimestamp:float\n1\t\t3\n", r"x.inter:2: empty item id"),
    ("\n", "empty file"),
    ("user_id:token\ttimestamp:float\n1\t3\n", r"missing column\(s\) \['item_id'\]"),
])
def test_malformed_atomic_files_in_a_data_directory(tmp_path, text, match):
    (tmp_path / "x.inter").write_text(text)
    with pytest.raises(ValueError, match=match):
        load_dataset(tmp_path)


def test_data_directory_needs_one_inter_file(tmp_path):
    with pytest.raises(ValueError, match=r"one RecBole \*.inter file .* found \[\]"):
        load_dataset(tmp_path)
    write_inter(tmp_path / "a.inter")
    write_inter(tmp_path / "b.inter")
    with pytest.raises(ValueError, match=r"found \['a.inter', 'b.inter'\]"):
        load_dataset(tmp_path)
