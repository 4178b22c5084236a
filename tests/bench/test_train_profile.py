"""benchmarks/train_profile.py: a profiled step's time is split into the named parts, one row per model."""

import json

import pytest
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


def _row(model, **parts):
    full = dict.fromkeys(train_profile.PARTS, 0.0) | parts
    return {"model": model, "profiled_seconds": sum(full.values()), "parts_seconds": full}


def test_floor_table_ceiling_is_the_baseline_step_over_fixed_work_plus_the_baseline_rest():
    rows = [_row("nanogpt", projections=0.3, mlp=0.6, head=0.1, op=0.6, norms=0.2, adamw=0.2),
            _row("slow", projections=0.8, mlp=0.6, head=0.1, op=0.5, norms=0.4, other=0.6)]
    lines = train_profile.floor_table(rows).splitlines()
    slow = [c.strip() for c in lines[3].split("|")[1:-1]]
    # fixed = 0.8 + 0.6 + 0.1 + 0.5 = 2.0; baseline step 2.0, its rest 0.4: ceiling 2.0 / 2.4
    assert slow[:6] == ["slow", "3.000", "1.500", "0.500", "2.000", "1.00"]
    assert slow[6:] == ["1.000", "0.83x", "0.67x"]
    base = [c.strip() for c in lines[2].split("|")[1:-1]]
    assert base[-2:] == ["1.00x", "1.00x"]


def test_floor_table_needs_the_baseline_row():
    with pytest.raises(ValueError, match="nanogpt"):
        train_profile.floor_table([_row("mamba", op=1.0)])
