import pytest

from rnnzoo.cli import build_parser, main


def test_top_level_train_is_lm_train():
    top = vars(build_parser().parse_args(["train", "--mixer", "gru", "--steps", "5", "--compile"]))
    nested = vars(build_parser().parse_args(["lm", "train", "--mixer", "gru", "--steps", "5", "--compile"]))
    top.pop("command"), nested.pop("command"), nested.pop("lm_command")
    assert top == nested and top["compile"] is True and top["steps"] == 5


def test_every_command_has_help_with_examples(capsys):
    for command in (["train"], ["lm", "train"], ["generate"], ["bench"], ["rec"], []):
        with pytest.raises(SystemExit):
            build_parser().parse_args([*command, "--help"])
        assert "example" in capsys.readouterr().out.lower(), command


def test_bad_input_is_one_line_exit_2(capsys, tmp_path):
    with pytest.raises(SystemExit) as e:
        main(["train", "--corpus", str(tmp_path / "missing.txt"), "--out", str(tmp_path / "out")])
    assert e.value.code == 2
    assert "missing.txt does not exist" in capsys.readouterr().err
