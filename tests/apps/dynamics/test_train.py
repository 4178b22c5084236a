import json

import pytest

from rnnzoo.apps.dynamics.train import DynamicsConfig, load_data, train_dynamics, window_batch
from rnnzoo.cli import main
from rnnzoo.config_args import override


def test_tiny_run_writes_results_and_plot(tmp_path):
    cfg = override(DynamicsConfig(), steps=3, length=300, seq_len=20, batch_size=2, eval_len=200, progress=False,
                   out_dir=str(tmp_path / "run"))
    r = train_dynamics(cfg)
    assert set(r["test"]) == {"d_stsp", "d_h"} and r["grad_norm"]["max"] > 0
    assert json.loads((tmp_path / "run" / "results.json").read_text())["alpha"] == 0.3
    assert (tmp_path / "run" / "attractor.png").stat().st_size > 0
    with pytest.raises(ValueError, match="already holds a run"):
        train_dynamics(cfg)


def test_batches_are_pure_functions_of_seed_and_step():
    train, _ = load_data(override(DynamicsConfig(), length=100, seq_len=10, eval_len=50))
    assert window_batch(train, 10, 3, 0, 5).equal(window_batch(train, 10, 3, 0, 5))
    assert not window_batch(train, 10, 3, 0, 5).equal(window_batch(train, 10, 3, 0, 6))


@pytest.mark.parametrize("argv, match", [(["--system", "duffing"], "unknown system"),
                                         (["--gtf", "2"], "gtf"),
                                         (["--seq-len", "1"], "seq_len"),
                                         (["--length", "300", "--eval-len", "400"], "eval_len")])
def test_cli_rejects_bad_input(argv, match, capsys):
    with pytest.raises(SystemExit):
        main(["dynamics", *argv])
    assert match in capsys.readouterr().err
