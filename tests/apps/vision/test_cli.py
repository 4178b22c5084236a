import pytest

from rnnzoo.cli import main


def test_a_mixer_given_to_plstm2d_is_refused(capsys):
    with pytest.raises(SystemExit):
        main(["vision", "digits", "--model", "plstm2d", "--mixer", "mamba", "--steps", "1", "--no-progress"])
    err = capsys.readouterr().err
    assert "--mixer mamba does not apply to --model plstm2d" in err and len(err.strip().splitlines()) <= 2
