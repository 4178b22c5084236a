import json

import pytest

from rnnzoo.apps.vision.train_digits import DigitsConfig, train_digits
from rnnzoo.apps.vision.train_moving import MovingConfig, train_moving
from rnnzoo.cli import main
from rnnzoo.config_args import override


@pytest.mark.parametrize("arch", ["sequential", "lrcn", "tslstm", "plstm2d", "lightnet2d"])
def test_digits_tiny_run(arch, tmp_path):
    cfg = override(DigitsConfig(), arch=arch, mixer="gru", d_model=8, n_layers=1, steps=2, batch_size=4,
                   clip_frames=3, segments=3, progress=False, out_dir=str(tmp_path))
    r = train_digits(cfg)
    assert 0 <= r["test"]["acc"] <= 1
    assert json.loads((tmp_path / "results.json").read_text())["model"] == arch
    with pytest.raises(ValueError, match="already holds a run"):
        train_digits(cfg)


def test_moving_tiny_run_writes_plot(tmp_path):
    cfg = override(MovingConfig(), arch="convs5", channels=4, state_channels=4, n_layers=1, steps=2, batch_size=2,
                   context=3, future=2, eval_clips=2, progress=False, out_dir=str(tmp_path))
    r = train_moving(cfg)
    assert len(r["test"]["mse"]) == 2 and len(r["test"]["ssim"]) == 2
    assert (tmp_path / "frames.png").stat().st_size > 0


@pytest.mark.parametrize("argv, match", [
    (["vision", "digits", "--order", "spiral"], "invalid choice"),
    (["vision", "digits", "--mixer", "nope"], "nope"),
    (["vision", "digits", "--clip-canvas", "8"], "clip_canvas"),
    (["vision", "digits", "--model", "tslstm", "--segments", "9"], "more than clip_frames 8"),
    (["vision", "digits", "--model", "lightnet2d", "--mixer", "gru"], "does not apply to --model lightnet2d"),
    (["vision", "moving", "--canvas", "30"], "canvas must be"),
    (["vision", "moving", "--canvas", "16"], "canvas must be"),
    (["vision", "moving", "--model", "convgru"], "invalid choice"),
    (["vision", "moving", "--context", "0"], "context"),
])
def test_cli_rejects_bad_input(argv, match, capsys):
    with pytest.raises(SystemExit):
        main(argv)
    assert match in capsys.readouterr().err
