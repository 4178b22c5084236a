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


def test_bad_input_is_one_line_exit_2(capsys, tmp_path):
    with pytest.raises(SystemExit) as e:
        main(["train", "--corpus", str(tmp_path / "missing.txt"), "--out", str(tmp_path / "out")])
    assert e.value.code == 2
    assert "missing.txt does not exist" in capsys.readouterr().err


# fields an app fills in from its data or task, and option dicts that the mixer spec flag sets
NO_FLAG = {LMTrainConfig: {"model.vocab_size", "model.mixer_options"},
           Seq2SeqTrainConfig: {"model.src_vocab", "model.in_features", "model.tgt_vocab", "model.allow_end",
                                "model.max_len", "model.encoder_options", "model.decoder_options"},
           RecTrainConfig: {"model.n_items", "model.max_len", "model.mixer_options"}}


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
