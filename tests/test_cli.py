import argparse
import dataclasses

import pytest

from rnnzoo.apps.combinatorial import Seq2SeqTrainConfig
from rnnzoo.apps.lm import LMTrainConfig
from rnnzoo.apps.rec import RecTrainConfig
from rnnzoo.cli import build_parser, main
from rnnzoo.config_args import from_args, leaves
from rnnzoo.models.generate import GenerationConfig


def test_top_level_train_is_lm_train():
    top = vars(build_parser().parse_args(["train", "--mixer", "gru", "--steps", "5", "--compile"]))
    nested = vars(build_parser().parse_args(["lm", "train", "--mixer", "gru", "--steps", "5", "--compile"]))
    top.pop("command"), nested.pop("command"), nested.pop("lm_command")
    assert top == nested and top["train.compile"] is True and top["train.steps"] == 5


def test_every_command_has_help_with_examples(capsys):
    for command in (["train"], ["lm", "train"], ["generate"], ["bench"], ["rec"], ["seq2seq"], []):
        with pytest.raises(SystemExit):
            build_parser().parse_args([*command, "--help"])
        assert "example" in capsys.readouterr().out.lower(), command


def _every_command(parser, prefix=()):
    """Yield the argv prefix of every sub-command below ``parser`` (depth first)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*prefix, name)
                yield from _every_command(sub, (*prefix, name))


def test_every_command_and_subcommand_prints_its_help(capsys):
    """`--help` must work everywhere (a '%' in a help text once crashed `rnnzoo study --help`)."""
    commands = [(), *_every_command(build_parser())]
    assert ("study",) in commands and ("study", "liger") in commands
    for command in commands:
        with pytest.raises(SystemExit) as e:
            build_parser().parse_args([*command, "--help"])
        assert e.value.code == 0, command
        assert capsys.readouterr().out.startswith("usage:"), command


def test_bad_input_is_one_line_exit_2(capsys, tmp_path):
    with pytest.raises(SystemExit) as e:
        main(["train", "--corpus", str(tmp_path / "missing.txt"), "--out", str(tmp_path / "out")])
    assert e.value.code == 2
    assert "missing.txt does not exist" in capsys.readouterr().err


# fields an app fills in from its data or task, and option dicts that the mixer spec flag sets
NO_FLAG = {LMTrainConfig: {"model.vocab_size", "model.mixer_options"},
           Seq2SeqTrainConfig: {"model.src_vocab", "model.in_features", "model.tgt_vocab", "model.allow_end",
                                "model.max_len", "model.encoder_options", "model.decoder_options"},
           RecTrainConfig: {"model.n_items", "model.max_len", "model.mixer_options", "train.checkpoint_every",
                            "train.resume", "train.override_config"}}  # rec runs cannot be resumed


@pytest.mark.parametrize("command,cls", [(["lm", "train"], LMTrainConfig), (["seq2seq"], Seq2SeqTrainConfig),
                                         (["rec"], RecTrainConfig)])
def test_every_field_of_the_nested_configs_has_a_flag(command, cls):
    parser = build_parser()
    dests = set(vars(parser.parse_args(command)))
    paths = {path for path, *_ in leaves(cls())}
    assert {p for p in paths if p.startswith("train.")} == {f"train.{f.name}" for f in
                                                            dataclasses.fields(cls().train)}
    assert paths - NO_FLAG[cls] <= dests and not NO_FLAG[cls] & dests
    assert from_args(cls, parser.parse_args(command)) == cls()  # no flags: the app's defaults


def test_old_flag_spellings_and_mixer_specs_reach_the_nested_config():
    args = build_parser().parse_args(["lm", "train", "--layers", "3", "--d-model", "32", "--steps", "7",
                                      "--batch-size", "4", "--seq-len", "16", "--lr", "0.01", "--out", "runs/x",
                                      "--resume", "--seed", "2", "--no-progress", "--eval-chars", "50",
                                      "--mixer", "gla:num_heads=2:expand_v=1"])
    cfg = from_args(LMTrainConfig, args)
    assert (cfg.model.n_layers, cfg.model.d_model, cfg.model.mixer) == (3, 32, "gla")
    assert cfg.model.mixer_options == {"num_heads": 2, "expand_v": 1.0}
    assert isinstance(cfg.model.mixer_options["expand_v"], float)  # typed by GLAConfig, not by the text
    t = cfg.train
    assert (t.steps, t.lr, t.out_dir, t.resume, t.seed, t.progress) == (7, 0.01, "runs/x", True, 2, False)
    assert (cfg.batch_size, cfg.seq_len, cfg.eval_chars) == (4, 16, 50)
    cfg = from_args(Seq2SeqTrainConfig, build_parser().parse_args(
        ["seq2seq", "--task", "reverse", "--encoder", "attention:num_heads=2", "--no-mask", "--layers", "2",
         "--n-min", "3", "--n", "5"]))
    assert (cfg.model.encoder, cfg.model.encoder_options, cfg.model.mask_pointed) == ("attention", {"num_heads": 2},
                                                                                      False)
    assert cfg.model.n_layers == 2 and cfg.n_min == 3
    assert cfg.model.src_vocab == 10 and cfg.model.in_features is None and cfg.model.max_len == 5  # from the task
    cfg = from_args(Seq2SeqTrainConfig, build_parser().parse_args(["seq2seq", "--eval-orders", "random,ascending"]))
    assert cfg.eval_orders == ("random", "ascending") and cfg.model.in_features == 1


def test_bad_mixer_option_is_one_line_exit_2(capsys):
    for spec, message in [("gla:num_heads=two", "num_heads=two: expected int"), ("gru:nope=1", "options are")]:
        with pytest.raises(SystemExit) as e:
            main(["lm", "train", "--mixer", spec, "--steps", "1", "--no-progress"])
        err = capsys.readouterr().err
        assert e.value.code == 2 and message in err and len(err.strip().splitlines()) <= 2, err
    with pytest.raises(SystemExit):  # the JSON form is gone: options go in the spec
        build_parser().parse_args(["lm", "train", "--mixer-options", '{"window": 3}'])


def test_every_generation_field_has_a_flag_and_the_old_spellings_work():
    parser = build_parser()
    command = ["generate", "--checkpoint", "runs/lm", "--prompt", "def "]
    assert {f.name for f in dataclasses.fields(GenerationConfig)} <= set(vars(parser.parse_args(command)))
    assert from_args(GenerationConfig, parser.parse_args(command)) == GenerationConfig()
    cfg = from_args(GenerationConfig, parser.parse_args(
        [*command, "--strategy", "diverse_beam", "--beams", "6", "--groups", "3", "--diversity", "1.0",
         "--max-new-tokens", "7", "--top-k", "5", "--top-p", "0.9", "--temperature", "0.8", "--seed", "2"]))
    assert cfg == GenerationConfig(7, "diverse_beam", 0.8, 5, 0.9, num_beams=6, num_groups=3, diversity=1.0, seed=2)


def test_rec_flags_and_old_spellings_reach_the_nested_config():
    parse = build_parser().parse_args
    cfg = from_args(RecTrainConfig, parse(["rec", "--model", "bert4rec", "--layers", "1", "--d-model", "32",
                                           "--steps", "20", "--patience", "3", "--lr", "0.01", "--seed", "4",
                                           "--out", "runs/r", "--no-progress", "--batch-size", "8",
                                           "--max-len", "20", "--min-interactions", "6", "--data", "r.dat",
                                           "--epochs", "2", "--dropout", "0.1"]))
    m, t = cfg.model, cfg.train
    assert (m.arch, m.n_layers, m.d_model, m.dropout, m.goal) == ("bert4rec", 1, 32, 0.1, "cloze")
    assert (t.steps, t.early_stop_patience, t.lr, t.seed, t.out_dir, t.progress) == (20, 3, 0.01, 4, "runs/r", False)
    assert (cfg.epochs, cfg.batch_size, cfg.history_len, cfg.min_interactions, cfg.data) == (2, 8, 20, 6, "r.dat")
    default = from_args(RecTrainConfig, parse(["rec", "--model", "gru4rec"])).model  # None: the arch's defaults
    assert (default.objective, default.goal, default.dropout, default.drop) == (None, "next", None, 0.3)
    m = from_args(RecTrainConfig, parse(["rec", "--encoder", "gla:num_heads=2", "--objective", "cloze"])).model
    assert (m.encoder, m.mixer_options, m.goal, m.name) == ("gla", {"num_heads": 2}, "cloze", "gla-cloze")
    assert from_args(RecTrainConfig, parse(["rec", "--encoder", "None"])).model.encoder is None
def test_version(capsys):
    from rnnzoo import __version__

    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"rnnzoo {__version__}"


def _bench_actions():
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return [a for a in sub.choices["bench"]._actions if a.dest != "help"]


def test_every_bench_flag_says_what_it_does_and_its_default():
    for action in _bench_actions():
        assert action.help and len(action.help) > 20, action.option_strings
        assert "default" in action.help or action.const is True, action.option_strings  # store_true: off


@pytest.mark.parametrize("flag", ["--steps", "--layers", "--batch-size", "--threads"])
@pytest.mark.parametrize("value", ["0", "-1", "x"])
def test_bench_zero_is_a_value_refused_where_invalid(flag, value, capsys):
    with pytest.raises(SystemExit) as e:
        main(["bench", flag, value, "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and f"argument {flag}: expected an integer >= 1, got '{value}'" in err[-1]


@pytest.mark.parametrize("argv,message", [
    (["--seeds", "a"], "--seeds expects comma-separated integers >= 0, e.g. 0,1; got 'a'"),
    (["--seeds", "-1"], "--seeds expects comma-separated integers >= 0"),
    (["--d-model", "0"], "--d-model expects comma-separated integers >= 1"),
    (["--lr", "0"], "argument --lr: expected a positive number, got '0'"),
    (["--mixers", ""], "--mixers must be one or more comma-separated mixer specs"),
])
def test_bench_bad_values_name_the_flag_in_one_line(argv, message, capsys, tmp_path):
    with pytest.raises(SystemExit) as e:
        main(["bench", *argv, "--out", str(tmp_path), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2 and message in err.splitlines()[-1] and "Traceback" not in err, err
    assert not (tmp_path / "results.jsonl").exists()


def test_bench_overrides_reach_every_task_and_zero_is_not_unset():
    from rnnzoo.bench import suite_from_args

    suite, _ = suite_from_args("quick", steps=7, lr=0.02, batch_size=3, n_layers=3)
    assert {(r.steps, r.lr, r.batch_size, r.n_layers) for r in suite.tasks} == {(7, 0.02, 3, None)}
    assert suite.n_layers == 3
    for kwargs, flag in [({"steps": 0}, "--steps"), ({"n_layers": 0}, "--layers"), ({"lr": 0.0}, "--lr"),
                         ({"batch_size": 0}, "--batch-size"), ({"seeds": ""}, "--seeds")]:
        with pytest.raises(ValueError, match=flag):
            suite_from_args("quick", **kwargs)


def test_threads_flag_on_every_command_and_the_bench(monkeypatch):
    import torch

    from rnnzoo import runtime
    from rnnzoo.bench import runner

    seen = {}
    monkeypatch.setattr(runner, "run_suite", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt))
    before = torch.get_num_threads()
    try:
        main(["--threads", "2", "list", "--json"])
        assert torch.get_num_threads() == 2
        monkeypatch.setattr(runtime, "default_threads", lambda: 3)
        main(["list", "--json"])
        assert torch.get_num_threads() == 3
        for argv, threads in [(["bench"], runtime.BENCH_THREADS), (["bench", "--threads", "2"], 2),
                              (["--threads", "2", "bench"], 2)]:
            assert main([*argv, "--no-progress", "--out", "unused"]) == 130
            seen[tuple(argv)] = torch.get_num_threads()
            assert seen[tuple(argv)] == threads, argv
    finally:
        torch.set_num_threads(before)


def test_ctrl_c_in_the_bench_says_how_to_resume_exit_130(tmp_path, capsys, monkeypatch):
    from rnnzoo.bench import runner

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "train_and_eval", interrupted)
    code = main(["bench", "--mixers", "gru", "--tasks", "parity:seq_len=4", "--steps", "1", "--d-model", "8",
                 "--out", str(tmp_path), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 130 and len(err.splitlines()) == 1 and "Traceback" not in err
    assert "interrupted" in err and f"same --out {tmp_path}" in err and "to resume" in err


def test_ctrl_c_in_any_command_is_one_line_exit_130(capsys, monkeypatch):
    import rnnzoo.cli as cli

    monkeypatch.setattr(cli, "mixer_rows", lambda: (_ for _ in ()).throw(KeyboardInterrupt))
    assert main(["list"]) == 130
    assert capsys.readouterr().err.strip() == "rnnzoo list: interrupted"


def test_list_fits_the_terminal_with_wide_and_json(capsys, monkeypatch):
    import json

    from rnnzoo import mixers

    monkeypatch.setenv("COLUMNS", "100")
    main(["list"])
    lines = capsys.readouterr().out.splitlines()
    assert max(map(len, lines)) <= 100 and len(lines) == len(mixers.names()) + 3  # header, rule, note
    assert "--wide" in lines[-1] and any("…" in line for line in lines)
    main(["list", "--wide"])
    wide = capsys.readouterr().out.splitlines()
    assert max(map(len, wide)) > 100 and len(wide) == len(mixers.names()) + 2
    assert all(mixers.get(n).paper in "\n".join(wide) for n in mixers.names())
    main(["list", "--json"])
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == mixers.names() and set(rows[0]) == {"name", "causal", "state_formula",
                                                                            "fast_path", "paper"}


@pytest.mark.parametrize("command", [["lm", "train"], ["seq2seq"], ["rec"], ["bench"], ["generate"]])
def test_device_and_dtype_flags_on_every_training_and_generation_command(command, capsys):
    with pytest.raises(SystemExit):
        main([*command, "--help"])
    text = capsys.readouterr().out
    assert "--device" in text and "--dtype {float32,bfloat16,float16}" in text and "mps" in text


def test_lm_train_with_device_and_dtype_end_to_end(tmp_path, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("def f(x):\n    return x + 1\n" * 60)
    assert main(["lm", "train", "--corpus", str(corpus), "--layers", "1", "--d-model", "16", "--batch-size", "4",
                 "--seq-len", "16", "--steps", "3", "--eval-chars", "100", "--device", "cpu", "--dtype", "bfloat16",
                 "--no-progress", "--out", str(tmp_path / "run")]) == 0
    import json
    saved = json.loads((tmp_path / "run" / "lm.json").read_text())
    assert saved["config"]["train"]["dtype"] == "bfloat16" and saved["config"]["train"]["device"] == "cpu"
    capsys.readouterr()
    assert main(["generate", "--checkpoint", str(tmp_path / "run"), "--prompt", "def", "--max-new-tokens", "5",
                 "--device", "cpu", "--dtype", "bfloat16"]) == 0
    assert capsys.readouterr().out.startswith("def")


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks the error on a machine without a GPU")
def test_absent_device_is_one_line_exit_2(capsys, tmp_path):
    with pytest.raises(SystemExit) as e:
        main(["lm", "train", "--device", "cuda", "--steps", "1", "--no-progress", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "device 'cuda' is not available here" in err and len(err.strip().splitlines()) == 1
