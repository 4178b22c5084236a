"""benchmarks/delta_kernel_ab.py builds another source of the delta-rule kernel and times both in one process."""

import json
import shutil
from pathlib import Path

import delta_kernel_ab
import pytest

from rnnzoo.ops.kernels.native import load

CSRC = Path(delta_kernel_ab.__file__).resolve().parents[1] / "rnnzoo" / "ops" / "kernels" / "csrc"


@pytest.mark.skipif(load("delta_rule") is None or shutil.which("cc") is None, reason="no C compiler")
def test_same_source_against_itself_writes_a_row_per_case(tmp_path):
    for path in [CSRC / "delta_rule.c", *CSRC.glob("*.h")]:
        shutil.copy(path, tmp_path / path.name)
    out = tmp_path / "ab.json"
    delta_kernel_ab.main(["--old", str(tmp_path / "delta_rule.c"), "--T", "4", "--rounds", "1", "--out", str(out)])
    rows = json.loads(out.read_text())["rows"]
    assert [r["case"] for r in rows] == ["delta_rule", "gated_delta_rule", "kda"]
    assert all(r["fwd_old_over_new"] > 0 and r["bwd_old_over_new"] > 0 for r in rows)
