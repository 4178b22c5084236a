import json

import pytest

from rnnzoo.cli import main


@pytest.mark.parametrize("model", ["tpgn", "chimera", "arnet", "gru", "seasonal_naive"])
def test_forecast_runs_and_writes_a_run_directory(tmp_path, capsys, model):
    out = tmp_path / "run"
    argv = ["ts", "forecast", "--data", "airline", "--model", model, "--steps", "2", "--d-model", "8",
            "--no-progress", "--out", str(out)]
    assert main(argv) == 0
    result = json.loads((out / "results.json").read_text())
    assert set(result["test"]) == {"mae", "mse", "mase"} and result["provenance"]["torch"]
    assert "test   mae=" in capsys.readouterr().out
    with pytest.raises(SystemExit):  # the directory holds a run: refused without --overwrite
        main(argv)
    assert "already holds a run" in capsys.readouterr().err


@pytest.mark.parametrize("model", ["lstm", "chimera", "1nn"])
def test_classify_runs(capsys, model):
    assert main(["ts", "classify", "--data", "basicmotions", "--model", model, "--steps", "2", "--d-model", "8",
                 "--no-progress"]) == 0
    assert "accuracy=" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["forecast", "--model", "1nn"], "classification baseline"),
    (["classify", "--model", "arnet"], "is a forecaster"),
    (["forecast", "--model", "nope"], "unknown mixer 'nope'"),
    (["forecast", "--lookback", "200"], "too short"),
    (["classify", "--data", "gunpoint", "--patch-len", "1000"], "patch_len 1000 is longer than the input window of 150"),
    (["forecast", "--patch-len", "100"], "patch_len 100 is longer than the input window of 36"),
    (["forecast", "--csv", "/nonexistent.csv", "--target", "y"], "does not exist"),
])
def test_bad_input_is_one_line(capsys, argv, message):
    with pytest.raises(SystemExit):
        main(["ts", *argv, "--steps", "1", "--no-progress"])
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("task", ["forecast", "classify"])
def test_help_offers_no_resume_flags(capsys, task):
    with pytest.raises(SystemExit):  # these runs cannot be resumed: the help does not offer it
        main(["ts", task, "--help"])
    text = capsys.readouterr().out
    assert "--resume" not in text and "--checkpoint-every" not in text and "--override-config" not in text
    assert "--overwrite" in text
