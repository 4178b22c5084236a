import numpy as np
import pytest

from rnnzoo.apps.tpp.data import read_events, simulated, split_of


def write(tmp_path, text):
    path = tmp_path / "events.csv"
    path.write_text(text)
    return path


def test_a_csv_is_read_per_sequence_and_split_by_sequence_id(tmp_path):
    rows = ["seq_id,time,mark"] + [f"s{i},{t},{(i + int(2 * t)) % 3}" for i in range(40) for t in (0.5, 1.0, 2.5)]
    data = read_events(write(tmp_path, "\n".join(rows) + "\n"))
    assert data.num_marks == 3 and data.process is None
    assert sum(len(v) for v in data.splits.values()) == 40
    times, marks = data.splits["train"][0]
    np.testing.assert_array_equal(times, [0.5, 1.0, 2.5])
    assert len(data.splits["test"]) == sum(split_of(f"s{i}") == "test" for i in range(40))


@pytest.mark.parametrize("body,message", [
    ("s,1.0,0\ns,0.5,1\n", "events.csv:3: negative gap -0.5 after time 1 in sequence 's'"),
    ("s,-1.0,0\n", "events.csv:2: time is negative in sequence 's'"),
    ("s,1.0,x\n", "events.csv:2: unknown mark 'x' in sequence 's'"),
    ("s,1.0,-1\n", "unknown mark '-1'"),
    ("s,nan,0\n", "events.csv:2: time 'nan' is not a finite number"),
    ("s,1.0\n", "events.csv:2: expected 3 fields"),
])
def test_bad_rows_are_refused_in_one_line_naming_the_line(tmp_path, body, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        read_events(write(tmp_path, "seq_id,time,mark\n" + body))


def test_marks_outside_a_declared_count_and_bad_headers_are_refused(tmp_path):
    with pytest.raises(ValueError, match=r"unknown mark '3'.*\[0, 3\)"):
        read_events(write(tmp_path, "seq_id,time,mark\ns,1.0,3\n"), num_marks=3)
    with pytest.raises(ValueError, match="header must be seq_id,time,mark"):
        read_events(write(tmp_path, "id,t,k\ns,1.0,0\n"))


def test_a_missing_file_or_a_directory_is_refused_in_one_line(tmp_path):
    with pytest.raises(ValueError, match="events file .*none.csv does not exist"):
        read_events(tmp_path / "none.csv")
    with pytest.raises(ValueError, match="is a directory"):
        read_events(tmp_path)


def test_simulated_data_is_reproducible_and_split_80_10_10():
    a, b = simulated("hawkes", 20, 8, seed=3), simulated("hawkes", 20, 8, seed=3)
    assert [len(a.splits[s]) for s in ("train", "valid", "test")] == [16, 2, 2]
    np.testing.assert_array_equal(a.splits["test"][1][0], b.splits["test"][1][0])
    with pytest.raises(ValueError, match="process must be one of"):
        simulated("poisson", 20, 8, seed=0)
