"""benchmarks/mixer_speed.py runs end to end on tiny shapes and writes its JSON rows."""

import json

import mixer_speed
import pytest


def test_mixer_speed_writes_a_row_per_mixer(tmp_path):
    out = tmp_path / "speed.json"
    mixer_speed.main(["--mixers", "mingru,lmu", "--T", "8", "--B", "2", "--d-model", "16", "--repeats", "1",
                      "--out", str(out)])
    payload = json.loads(out.read_text())
    assert [r["mixer"] for r in payload["rows"]] == ["mingru", "lmu"]
    assert all(r["fast_s"] > 0 and r["step_loop_s"] > 0 and r["baseline"] == "step loop" for r in payload["rows"])
    assert payload["provenance"]["T"] == 8 and payload["provenance"]["threads"] == 1


def test_step_loop_is_the_mixers_full_forward():
    import torch

    from rnnzoo import mixers
    mixer = mixers.build("rglru", 16)
    x = torch.randn(2, 7, 16)
    torch.testing.assert_close(mixer_speed.step_loop(mixer, x), mixer(x)[0], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("flags", [["--mixers", "no_such_mixer"], ["--T", "0"], ["--mixers", "hydra"]])
def test_bad_arguments_are_errors(tmp_path, flags):
    with pytest.raises(SystemExit):
        mixer_speed.main([*flags, "--out", str(tmp_path / "x.json")])


def test_backward_flag_times_forward_and_backward(tmp_path):
    out = tmp_path / "speed.json"
    mixer_speed.main(["--mixers", "rglru", "--T", "8", "--B", "2", "--d-model", "16", "--repeats", "1", "--backward",
                      "--out", str(out)])
    payload = json.loads(out.read_text())
    assert payload["rows"][0]["pass"] == "forward+backward" and payload["provenance"]["backward"] is True
