"""benchmarks/train_profile.py: a profiled step's time is split into the named parts, one row per model."""

import json

import train_profile


def test_profile_rows_split_the_step_into_parts(tmp_path):
    out = tmp_path / "profile.json"
    train_profile.main(["--mixers", "mamba", "--T", "16", "--B", "2", "--d-model", "64", "--layers", "1",
                        "--out", str(out)])
    rows = json.loads(out.read_text())["rows"]
    assert [r["model"] for r in rows] == ["nanogpt", "mamba"]
    mamba = rows[1]["parts_seconds"]
    assert set(mamba) == set(train_profile.PARTS)
    for part in ("norms", "projections", "short conv", "op", "mlp", "adamw"):
        assert mamba[part] > 0, part
    assert rows[0]["parts_seconds"]["short conv"] == 0  # the baseline has none
