import errno
import json
import os
import stat

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


def test_files_honour_the_umask(tmp_path):
    from rnnzoo.models import LanguageModel, LMConfig
    from rnnzoo.train.checkpoint import save_checkpoint

    old = os.umask(0o022)
    try:
        save_checkpoint(tmp_path, LanguageModel(LMConfig(8, 8, 1, "gru")), step=1)
        append_jsonl(tmp_path / "metrics.jsonl", {"step": 1})
        atomic_write_json(tmp_path / "r.json", {})
    finally:
        os.umask(old)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
    assert modes == {"checkpoint.json": 0o644, "model-1.safetensors": 0o644, "metrics.jsonl": 0o644, "r.json": 0o644}


def test_a_full_disk_is_an_oserror_naming_the_file_and_leaves_no_temp_file(tmp_path, monkeypatch):
    def full(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(OSError, match="No space left on device") as e:
        atomic_write_bytes(tmp_path / "x.bin", b"abc")
    assert str(tmp_path / "x.bin") in str(e.value) and not list(tmp_path.iterdir())
    with pytest.raises(OSError, match="cannot write .*m.jsonl: No space left"):
        append_jsonl(tmp_path / "m.jsonl", {"step": 1})


def test_short_writes_are_completed(tmp_path, monkeypatch):
    real = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: real(fd, bytes(data[:3])))  # the kernel may write less
    atomic_write_bytes(tmp_path / "x.bin", b"0123456789")
    assert (tmp_path / "x.bin").read_bytes() == b"0123456789"
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
