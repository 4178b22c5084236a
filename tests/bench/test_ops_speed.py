"""benchmarks/ops_speed.py runs end to end on tiny shapes and writes its JSON rows."""

import json

import ops_speed
import pytest

from rnnzoo.ops.kernels.native import load


@pytest.mark.parametrize("extra", [[], ["--paired", "2"]])
def test_ops_speed_writes_rows_for_every_mode(tmp_path, extra):
    out = tmp_path / "speed.json"
    ops_speed.main(["--ops", "ssd", "--T", "32", "--batch", "1", "--repeats", "1", "--threads", "1",
                    "--out", str(out), *extra])
    rows = json.loads(out.read_text())["rows"]
    kernel = ["kernel"] if load("linear_attention") else []
    assert [r["mode"] for r in rows] == ["recurrent", "chunk", *kernel, "minimal"]
    key = "paired_speedup" if extra else "fwd_bwd_speedup"
    assert rows[0][key] == 1.0 and all(r[key] > 0 for r in rows)
    if extra:
        assert all(len(r["paired_speedup_each"]) == 2 for r in rows)


def test_unknown_op_is_an_error(tmp_path):
    with pytest.raises(SystemExit):
        ops_speed.main(["--ops", "no_such_op", "--T", "16", "--out", str(tmp_path / "x.json"), "--paired", "1"])


@pytest.mark.parametrize("flags", [["--paired", "-1"], ["--repeats", "0"]])
def test_bad_counts_are_errors(tmp_path, flags):
    with pytest.raises(SystemExit):
        ops_speed.main(["--ops", "ssd", "--T", "16", "--out", str(tmp_path / "x.json"), *flags])


def test_modes_pick_and_order_the_timed_modes_and_roofline_adds_kernel_gflops(tmp_path):
    out = tmp_path / "speed.json"
    ops_speed.main(["--ops", "delta_rule", "--modes", "chunk,kernel,fla_naive", "--T", "16", "--batch", "1",
                    "--threads", "1", "--paired", "1", "--roofline", "--out", str(out)])
    payload = json.loads(out.read_text())
    rows = payload["rows"]
    assert [r["mode"] for r in rows] == ["chunk", *(["kernel"] if load("delta_rule") else []), "fla_naive"]
    assert rows[0]["reference"] == "chunk" and payload["sgemm_gflops"] > 0
    for r in rows:
        assert ("kernel_gflops" in r) == (r["mode"] == "kernel")
        assert r.get("fraction_of_sgemm", 1) > 0


@pytest.mark.skipif(load("dplr") is None, reason="no C compiler: no compiled kernel")
def test_dplr_cases_time_every_mode_with_the_kernel_roofline(tmp_path):
    out = tmp_path / "speed.json"
    ops_speed.main(["--ops", "dplr_delta_rule", "--T", "8", "--batch", "1", "--threads", "1", "--paired", "1",
                    "--roofline", "--out", str(out)])
    rows = json.loads(out.read_text())["rows"]
    assert [r["mode"] for r in rows] == ["recurrent", "chunk", "kernel"]
    assert rows[2]["kernel_gflops"] > 0
