import pytest

from rnnzoo.cli import build_parser, main


def test_verify_has_help_with_examples(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["verify", "--help"])
    assert "rnnzoo verify mypkg.layers:MyMixer" in capsys.readouterr().out


def test_verify_command_exits_nonzero_exactly_when_a_clause_fails(capsys):
    assert main(["verify", "tests.test_testing:DecayMixer", "--options", '{"init_decay": 0.5}']) == 0
    assert "0 failed" in capsys.readouterr().out
    assert main(["verify", "tests.test_testing:BrokenMixer"]) == 1
    assert "FAIL  state_size" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["verify", "tests.test_testing:Nope"])
    assert "has no Mixer subclass named 'Nope'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["verify", "no_such_module_here:X"])
    assert "cannot import 'no_such_module_here'" in capsys.readouterr().err


def test_a_registered_name_is_verified_and_bad_options_are_one_line_errors(capsys):
    assert main(["verify", "gru"]) == 0
    assert "0 failed" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["verify", "gru", "--options", "[1]"])
    assert "expected a JSON object" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["verify", "gru", "--options", '{"heads": 2}'])
    assert "no option(s) ['heads']" in capsys.readouterr().err
