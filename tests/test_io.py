import json

from rnnzoo.io import append_jsonl, atomic_write_bytes, atomic_write_json


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
