import json

import pytest

from rnnzoo.cli import main


def test_inspect_matrix_plots_a_fresh_mixer(tmp_path):
    out = tmp_path / "m.png"
    assert main(["inspect", "--matrix", "--mixer", "retnet:num_heads=2", "--d-model", "16", "--length", "12",
                 "--out", str(out)]) == 0
    assert out.stat().st_size > 0
    assert json.loads(out.with_suffix(".json").read_text())["shape"] == [1, 2, 12, 12]


def test_inspect_refuses_a_nonlinear_mixer_and_a_trajectory_without_checkpoint(tmp_path, capsys):
    for argv in (["inspect", "--matrix", "--mixer", "gru"], ["inspect"]):
        with pytest.raises(SystemExit):
            main(argv + ["--out", str(tmp_path / "x.png")])
    err = capsys.readouterr().err
    assert "no implicit attention matrix" in err and "needs a trained model" in err
