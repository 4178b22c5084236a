"""benchmarks/mixer_mode_ab.py times a mixer in two op modes and restores its fast_mode."""

import json

import mixer_mode_ab
import pytest

from rnnzoo.mixers.registry import get


def test_writes_a_row_and_restores_the_fast_mode(tmp_path):
    out = tmp_path / "ab.json"
    mixer_mode_ab.main(["--mixers", "rwkv7", "--modes", "recurrent,auto", "--T", "4", "--B", "1", "--d-model", "32",
                        "--rounds", "1", "--out", str(out)])
    (row,) = json.loads(out.read_text())["rows"]
    assert row["mixer"] == "rwkv7" and row["ratio"] > 0
    assert get("rwkv7").fast_mode == "auto"


def test_two_modes_are_required(tmp_path):
    with pytest.raises(SystemExit):
        mixer_mode_ab.main(["--modes", "chunk", "--out", str(tmp_path / "x.json")])
