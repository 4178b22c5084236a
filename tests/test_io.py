import errno
import json
import os

import pytest

from rnnzoo.io import append_jsonl, atomic_write_bytes, atomic_write_json, read_jsonl


def test_atomic_write_replaces_and_leaves_no_temp_file(tmp_path):
    path = tmp_path / "sub" / "r.json"
    atomic_write_json(path, {"b": 1, "a": [1, 2]})
    atomic_write_bytes(path.with_name("x.bin"), b"\x00\x01")
    atomic_write_json(path, {"a": 2})
    assert json.loads(path.read_text()) == {"a": 2}
    assert sorted(p.name for p in path.parent.iterdir()) == ["r.json", "x.bin"]


def test_append_jsonl_writes_one_complete_line_per_record(tmp_path):
    path = tmp_path / "new" / "m.jsonl"
    append_jsonl(path, {"step": 1, "loss": 0.5})
    append_jsonl(path, {"step": 2})
    text = path.read_text()
    assert text.endswith("\n") and [json.loads(x) for x in text.splitlines()] == [{"loss": 0.5, "step": 1},
                                                                                    {"step": 2}]


def test_append_jsonl_continues_short_writes(tmp_path, monkeypatch):
    real = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: real(fd, data[:7]))  # the kernel takes 7 bytes a call
    append_jsonl(tmp_path / "m.jsonl", {"step": 1, "loss": 0.5})
    monkeypatch.undo()
    assert read_jsonl(tmp_path / "m.jsonl", warn=pytest.fail) == [{"loss": 0.5, "step": 1}]


def test_append_jsonl_that_fails_part_way_leaves_nothing(tmp_path, monkeypatch):
    path = tmp_path / "m.jsonl"
    append_jsonl(path, {"step": 1})
    before = path.read_bytes()
    real, calls = os.write, []

    def disk_fills(fd, data):
        calls.append(len(data))
        if len(calls) > 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(fd, data[:5])

    monkeypatch.setattr(os, "write", disk_fills)
    with pytest.raises(OSError, match="No space"):
        append_jsonl(path, {"step": 2, "loss": 0.25})
    monkeypatch.undo()
    assert path.read_bytes() == before  # the half record was truncated away


def test_a_partial_last_line_does_not_glue_onto_the_next_record(tmp_path):
    path = tmp_path / "m.jsonl"
    append_jsonl(path, {"step": 1})
    with open(path, "a") as f:
        f.write('{"step": 2, "lo')  # a writer killed mid-record
    append_jsonl(path, {"step": 3})
    warnings = []
    assert read_jsonl(path, warn=warnings.append) == [{"step": 1}, {"step": 3}]
    assert len(warnings) == 1 and warnings[0].startswith(f"{path}:2: skipping a damaged line")


def test_read_jsonl_skips_damaged_lines_naming_file_and_line(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_bytes(b'{"a": 1}\nnot json\n\n[1, 2]\n\xff\xfe\n{"a": 2}\n')
    warnings = []
    assert read_jsonl(path, warn=warnings.append) == [{"a": 1}, {"a": 2}]
    assert [w.split(": ")[0] for w in warnings] == [f"{path}:2", f"{path}:4", f"{path}:5"]
    assert read_jsonl(tmp_path / "missing.jsonl", warn=pytest.fail) == []
