import json
import math
import random
from dataclasses import replace

import pytest
import torch

from rnnzoo.apps.lm import (
    LMTrainConfig,
    Vocab,
    bits_per_char,
    document_starts,
    generate_text,
    load_corpus,
    load_lm,
    load_train_config,
    packed_lm_loss,
    split_of,
    stdlib_sources,
    train_lm,
)
from rnnzoo.cli import main
from rnnzoo.config_args import from_dict
from rnnzoo.labels import IGNORE
from rnnzoo.models import LanguageModel, LMConfig
from rnnzoo.models.generate import GenerationConfig
from rnnzoo.train import lm_loss
from rnnzoo.train.checkpoint import write_sidecar


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    rng = random.Random(0)
    words = ["def", "return", "self", "import", "class", "for", "in", "if", "x", "(", ")", ":"]
    path = tmp_path_factory.mktemp("c") / "corpus.txt"
    path.write_text(" ".join(rng.choice(words) for _ in range(3000)))
    return path


def test_stdlib_split_is_by_file_deterministic_and_roughly_90_5_5():
    files = stdlib_sources()
    rels = [r for r, _ in files]
    assert rels == sorted(rels) and len(rels) > 100
    assert not any("site-packages" in r for r in rels)
    counts = {s: sum(split_of(r) == s for r in rels) for s in ("train", "valid", "test")}
    assert counts["train"] > 0.8 * len(rels) and counts["valid"] > 0 and counts["test"] > 0
    assert split_of("json/decoder.py") == split_of("json/decoder.py")


def test_vocab_round_trip_unknowns_and_strict_prompt():
    v = Vocab.from_text("hello world")
    assert v.chars[0] == "<unk>" and len(v) == 9
    ids = v.encode("hold!")
    assert ids.tolist()[-1] == 0 and v.decode(ids[:-1].tolist()) == "hold"
    with pytest.raises(ValueError, match=r"\['!'\] are not in the model's vocabulary"):
        v.encode("hold!", strict=True)


def test_missing_and_empty_corpus_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.txt does not exist"):
        load_corpus(str(tmp_path / "nope.txt"))
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(ValueError, match="empty or too short"):
        load_corpus(str(tmp_path / "empty.txt"))


def test_bits_per_char_of_a_uniform_model_is_log2_vocab():
    model = LanguageModel(LMConfig(7, 8, 1, "gru"))
    torch.nn.init.zeros_(model.embed.weight)  # tied head -> all-zero logits
    ids = torch.randint(0, 7, (50,))
    assert bits_per_char(model, ids, seq_len=8) == pytest.approx(math.log2(7), rel=1e-6)


def small_config(corpus, steps: int, out_dir) -> LMTrainConfig:
    return LMTrainConfig(model=LMConfig(mixer="lstm", n_layers=1, d_model=16),
                         train=replace(LMTrainConfig().train, steps=steps, out_dir=str(out_dir), eval_every=5,
                                       progress=False, checkpoint_every=5),
                         batch_size=4, seq_len=16, eval_chars=200, corpus=str(corpus))


def test_train_resume_and_generate_end_to_end(corpus, tmp_path):
    full = train_lm(small_config(corpus, 10, tmp_path / "full"))
    assert 0 < full["test_bpc"] < math.log2(full["vocab_size"])  # learned something beyond uniform
    train_lm(small_config(corpus, 5, tmp_path / "run"))
    # the CLI extends that run to 10 steps from its checkpoint (exactness of resume: tests/train/test_checkpoint.py)
    assert main(["lm", "train", "--corpus", str(corpus), "--layers", "1", "--d-model", "16", "--batch-size", "4",
                 "--seq-len", "16", "--eval-chars", "200", "--steps", "10", "--out", str(tmp_path / "run"),
                 "--resume", "--no-progress"]) == 0
    steps = [json.loads(x)["step"] for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert steps[-1] == 10 and 6 in steps and steps.count(6) == 1
    model, vocab = load_lm(tmp_path / "full")
    assert vocab.chars[0] == "<unk>" and model.config.vocab_size == len(vocab)
    beams = generate_text(tmp_path / "full", "def ", GenerationConfig(12, "beam", num_beams=3))
    assert len(beams) == 3 and all(len(b) == 12 for b in beams)
    with pytest.raises(ValueError, match="not in the model's vocabulary"):
        generate_text(tmp_path / "full", "déf", GenerationConfig(5))
    # the 10-step resumed run drafts for the other one: speculative greedy is plain greedy
    assert generate_text(tmp_path / "full", "def ", GenerationConfig(20, draft_k=3), tmp_path / "run") == \
        generate_text(tmp_path / "full", "def ", GenerationConfig(20))
    assert main(["generate", "--checkpoint", str(tmp_path / "full"), "--draft", str(tmp_path / "run"),
                 "--prompt", "def ", "--strategy", "sample", "--draft-k", "2", "--max-new-tokens", "8"]) == 0
    with pytest.raises(SystemExit):
        main(["generate", "--checkpoint", str(tmp_path / "full"), "--prompt", "d", "--strategy", "beam",
              "--beams", "0"])


def test_checkpoints_of_the_flat_config_still_load(corpus, tmp_path):
    """Before the model and trainer configs were nested, train_lm saved its config flat; such a checkpoint
    still loads, and its config reads back in the nested form."""
    train_lm(small_config(corpus, 2, tmp_path))
    sidecar = json.loads((tmp_path / "checkpoint.json").read_text())
    vocab_size = len(sidecar["extra"]["vocab"])
    # the model config as the flat-config version wrote it (LMConfig's fields are unchanged)
    assert sidecar["model_config"] == {"vocab_size": vocab_size, "d_model": 16, "n_layers": 1, "mixer": "lstm",
                                       "mixer_options": {}, "mlp_ratio": 4.0, "tie_embeddings": True}
    del sidecar["extra"]["run_config"]  # that version kept the config under "lm_train_config"
    sidecar["extra"]["lm_train_config"] = {
        "mixer": "gla", "n_layers": 1, "d_model": 16, "mixer_options": {"num_heads": 2}, "steps": 2,
        "batch_size": 4, "seq_len": 16, "lr": 0.003, "warmup_steps": 100, "eval_every": 5, "eval_chars": 200,
        "checkpoint_every": 5, "corpus": str(corpus), "out_dir": str(tmp_path), "resume": False, "seed": 3,
        "progress": False, "compile": False}
    write_sidecar(tmp_path, sidecar)  # as that version wrote it (with today's sidecar checksum)
    cfg = load_train_config(tmp_path)
    assert cfg.model == LMConfig(d_model=16, n_layers=1, mixer="gla", mixer_options={"num_heads": 2})
    assert (cfg.train.steps, cfg.train.lr, cfg.train.warmup_steps, cfg.train.eval_every, cfg.train.seed) == (
        2, 0.003, 100, 5, 3)
    assert (cfg.train.checkpoint_every, cfg.train.out_dir, cfg.train.progress) == (5, str(tmp_path), False)
    assert (cfg.batch_size, cfg.seq_len, cfg.eval_chars, cfg.corpus) == (4, 16, 200, str(corpus))
    model, vocab = load_lm(tmp_path)
    assert model.config.vocab_size == len(vocab) == vocab_size
    saved = train_lm(small_config(corpus, 1, tmp_path / "new"))["config"]  # today's form reads back the same
    assert load_train_config(tmp_path / "new") == from_dict(LMTrainConfig, saved)
    assert saved["model"]["vocab_size"] == vocab_size and saved["train"]["steps"] == 1


def cli(corpus, out, *flags):
    return main(["lm", "train", "--corpus", str(corpus), "--layers", "1", "--d-model", "16", "--batch-size", "4",
                 "--seq-len", "16", "--eval-chars", "200", "--out", str(out), "--no-progress", *flags])


def test_a_directory_holding_a_run_is_refused_and_overwrite_replaces_it(corpus, tmp_path, capsys):
    out = tmp_path / "run"
    assert cli(corpus, out, "--steps", "3") == 0
    before = (out / "checkpoint.json").read_bytes()
    with pytest.raises(SystemExit) as e:
        cli(corpus, out, "--steps", "2")
    assert e.value.code == 2 and "already holds a run" in capsys.readouterr().err
    assert (out / "checkpoint.json").read_bytes() == before  # nothing touched
    run_id = json.loads((out / "run.json").read_text())["run_id"]
    assert cli(corpus, out, "--steps", "2", "--overwrite") == 0
    records = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert max(r["step"] for r in records) == 2 and {r["run_id"] for r in records} != {run_id}
    assert sorted(p.name for p in out.glob("model-*")) == ["model-2.safetensors"]


def test_resume_with_only_out_restores_the_saved_config(corpus, tmp_path, capsys):
    out = tmp_path / "run"
    assert cli(corpus, out, "--mixer", "gru", "--steps", "5", "--lr", "0.01") == 0
    # the form the help shows: no other flag; today's checkpoint knows the mixer, corpus and sizes
    assert main(["lm", "train", "--out", str(out), "--resume", "--steps", "7", "--no-progress"]) == 0
    assert "changed settings: " in capsys.readouterr().err
    assert load_train_config(out).model.mixer == "gru" and load_lm(out)[0].config.mixer == "gru"
    with pytest.raises(SystemExit):
        main(["lm", "train", "--out", str(out), "--resume", "--lr", "0.5", "--seed", "2", "--no-progress"])
    err = capsys.readouterr().err
    assert "lr 0.01 -> 0.5, seed 0 -> 2" in err and "--override-config" in err and len(err.splitlines()) == 1
    with pytest.raises(SystemExit):
        main(["lm", "train", "--out", str(out), "--resume", "--mixer", "lstm", "--no-progress"])
    assert "mixer 'gru' -> 'lstm'" in capsys.readouterr().err  # listed, not a weight-shape error
    assert main(["lm", "train", "--out", str(out), "--resume", "--lr", "0.02", "--steps", "8", "--override-config",
                 "--no-progress"]) == 0
    assert json.loads((out / "lm.json").read_text())["config"]["train"]["lr"] == 0.02


@pytest.mark.parametrize("content,message", [
    (b"abc\x00def" * 100, r"binary, not UTF-8 text \(NUL byte at offset 3\)"),
    ("héllo wörld ".encode("latin-1") * 100, r"not UTF-8 text: byte 0xe9 at offset 1"),
])
def test_binary_and_non_utf8_corpora_are_refused_naming_file_and_offset(tmp_path, content, message):
    path = tmp_path / "c.bin"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message) as e:
        load_corpus(str(path))
    assert str(path) in str(e.value)
    with pytest.raises(ValueError, match=f"corpus {tmp_path} is a directory"):
        load_corpus(str(tmp_path))


@pytest.mark.parametrize("flag", ["--eval-chars", "--eval-every"])
def test_negative_eval_options_are_refused(corpus, tmp_path, capsys, flag):
    with pytest.raises(SystemExit):
        cli(corpus, tmp_path / "run", flag, "-5")
    assert f"{flag[2:].replace('-', '_')} must be >= 0, got -5" in capsys.readouterr().err


def test_huge_seq_len_is_refused_before_allocating(corpus, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        cli(corpus, tmp_path / "run", "--seq-len", str(10**9))
    err = capsys.readouterr().err
    assert e.value.code == 2 and "GiB available; lower --batch-size or --seq-len" in err


def test_memory_estimate_warns_above_half_of_what_is_available(monkeypatch):
    from rnnzoo.apps import lm

    cfg = replace(LMTrainConfig(), model=replace(LMTrainConfig().model, vocab_size=100))
    need = lm.train_step_bytes(cfg, 10**6)
    monkeypatch.setattr(lm, "available_memory", lambda: int(need * 1.5))
    with pytest.warns(UserWarning, match="more than half"):
        lm.check_memory(cfg, 10**6)
    monkeypatch.setattr(lm, "available_memory", lambda: None)  # no /proc/meminfo: no check
    lm.check_memory(cfg, 10**6)


def test_filesystem_errors_are_one_line_errors_naming_the_path(corpus, tmp_path, capsys, monkeypatch):
    (tmp_path / "file").write_text("x")
    for out in (tmp_path / "file", tmp_path / "file" / "run"):
        with pytest.raises(SystemExit) as e:
            cli(corpus, out, "--steps", "2")
        err = capsys.readouterr().err
        assert e.value.code == 2 and f"{tmp_path / 'file'} is a file" in err and len(err.splitlines()) == 1
    import errno
    import os

    def full(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(SystemExit) as e:
        cli(corpus, tmp_path / "run", "--steps", "2")
    err = capsys.readouterr().err
    assert e.value.code == 2 and "No space left on device" in err and str(tmp_path / "run") in err
    assert err.startswith("rnnzoo lm: error: ") and len(err.splitlines()) == 1


def test_tbptt_trains_over_the_stream_from_the_cli(corpus, tmp_path):
    out = tmp_path / "tbptt"
    assert main(["lm", "train", "--corpus", str(corpus), "--mixer", "gru", "--layers", "1", "--d-model", "16",
                 "--steps", "6", "--batch-size", "2", "--seq-len", "8", "--eval-chars", "100", "--tbptt",
                 "--out", str(out), "--no-progress"]) == 0
    result = json.loads((out / "lm.json").read_text())
    assert result["config"]["tbptt"] is True and math.isfinite(result["test_bpc"])
def test_document_starts_are_the_offsets_in_the_joined_text():
    docs = ["ab", "", "cde"]
    starts = document_starts(docs)
    assert starts.tolist() == [0, 3, 4]
    assert ["\n".join(docs)[s:].startswith(d) for s, d in zip(starts.tolist(), docs)] == [True] * 3


def _tiny_lm():
    torch.manual_seed(0)
    return LanguageModel(LMConfig(vocab_size=11, d_model=16, n_layers=2, mixer="gla", mixer_options={"num_heads": 2}))


def test_packed_loss_without_file_starts_is_the_plain_loss():
    model = _tiny_lm()
    window = torch.randint(0, 11, (3, 9), generator=torch.Generator().manual_seed(1))
    starts = torch.zeros(3, 8, dtype=torch.bool)
    plain, _ = lm_loss(model, (window[:, :-1], window[:, 1:]))
    packed, _ = packed_lm_loss(model, (window[:, :-1], window[:, 1:], starts))
    torch.testing.assert_close(packed, plain, atol=1e-6, rtol=1e-6)


def test_packed_loss_runs_each_file_piece_alone():
    model = _tiny_lm()
    window = torch.randint(0, 11, (2, 9), generator=torch.Generator().manual_seed(2))
    starts = torch.zeros(2, 8, dtype=torch.bool)
    starts[0, 3] = starts[1, 5] = True  # a file starts there: the targets just before are ignored
    targets = window[:, 1:].clone()
    targets[0, 2] = targets[1, 4] = IGNORE
    packed, _ = packed_lm_loss(model, (window[:, :-1], targets, starts))
    total, count = 0.0, 0
    for row, cut in ((0, 3), (1, 5)):
        for lo, hi in ((0, cut), (cut, 8)):
            logits = model(window[row:row + 1, lo:hi])[0]
            t = targets[row, lo:hi]
            total += torch.nn.functional.cross_entropy(logits, t, ignore_index=IGNORE, reduction="sum")
            count += int((t != IGNORE).sum())
    torch.testing.assert_close(packed, total / count, atol=1e-6, rtol=1e-6)


def test_pack_files_needs_the_stdlib_corpus(corpus):
    with pytest.raises(ValueError, match="pack_files needs the standard-library corpus"):
        LMTrainConfig(corpus=str(corpus), pack_files=True)


def test_meap_masks_training_inputs_with_unk(corpus, tmp_path, monkeypatch):
    from rnnzoo.train import trainer as trainer_module

    seen = []
    real = trainer_module.lm_loss

    def spy(model, batch):
        seen.append(batch[0])
        return real(model, batch)

    monkeypatch.setattr("rnnzoo.apps.lm.lm_loss", spy)
    result = train_lm(replace(small_config(corpus, 2, tmp_path), meap=0.25))
    assert math.isfinite(result["test_bpc"])
    assert all(((inputs == 0).sum(1) >= 4).all() for inputs in seen)  # round(0.25 * 16) masked per window
    with pytest.raises(ValueError, match="meap must be a fraction"):
        LMTrainConfig(meap=1.0)
    with pytest.raises(ValueError, match="--meap"):
        train_lm(replace(small_config(corpus, 2, tmp_path / "t"), meap=0.1, tbptt=True))


def test_a_hybrid_stack_trains_from_the_cli_and_reloads(corpus, tmp_path):
    assert main(["lm", "train", "--corpus", str(corpus), "--mixer", "hybrid:gla:num_heads=2*2+attention",
                 "--layers", "3", "--d-model", "16", "--batch-size", "4", "--seq-len", "16", "--eval-chars", "100",
                 "--steps", "2", "--out", str(tmp_path), "--no-progress"]) == 0
    model, _ = load_lm(tmp_path)
    assert model.config.mixer == "hybrid:gla:num_heads=2*2+attention" and model.config.mixer_options == {}
    assert [type(b.mixer).__name__ for b in model.blocks] == ["GLA", "GLA", "Attention"]
    assert load_train_config(tmp_path).model == model.config
