"""benchmarks/train_speed.py runs end to end on tiny shapes, each (model, round) in its own process, and its
independent nanoGPT baseline is a causal LM."""

import json

import pytest
import torch
import train_speed


def test_rows_for_the_baseline_and_each_mixer(tmp_path):
    out = tmp_path / "speed.jsonl"
    train_speed.main(["--mixers", "lstm,gla", "--T", "16", "--B", "2", "--d-model", "64", "--layers", "1",
                      "--rounds", "2", "--warmup", "1", "--out", str(out)])
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["model"] for r in rows] == ["nanogpt", "lstm", "gla"]
    assert all(len(r["rounds"]) == 2 and r["tokens_per_s"] > 0 and "commit" in r["provenance"] for r in rows)


def test_nanogpt_baseline_is_causal():
    torch.manual_seed(0)
    model = train_speed.NanoGPT(64, 2, heads=2, max_len=16)
    x = torch.randint(0, train_speed.VOCAB, (2, 16))
    y = x.clone()
    y[:, 10:] = (y[:, 10:] + 1) % train_speed.VOCAB
    torch.testing.assert_close(model(x)[:, :10], model(y)[:, :10])


@pytest.mark.parametrize("flags", [["--mixers", "no_such_mixer"], ["--mixers", "hydra"], ["--T", "0"]])
def test_bad_arguments_are_errors(tmp_path, flags):
    with pytest.raises(SystemExit):
        train_speed.main([*flags, "--out", str(tmp_path / "x.jsonl")])


@pytest.mark.slow
def test_compile_runs_eager_and_compiled_side_by_side(tmp_path):
    out = tmp_path / "speed.jsonl"
    train_speed.main(["--mixers", "gla", "--T", "16", "--B", "2", "--d-model", "64", "--layers", "1",
                      "--rounds", "1", "--warmup", "1", "--compile", "--out", str(out)])
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["model"], r["compiled"]) for r in rows] == [("nanogpt", False), ("nanogpt", True), ("gla", False),
                                                           ("gla", True)]
    baseline = rows[1]
    assert baseline["compile"] == train_speed.COMPILE and not baseline["errors"] and baseline["tokens_per_s"] > 0
    assert baseline["compile_s"][0] > 0 and baseline["graphs"] >= 1
    assert rows[3]["tokens_per_s"] > 0 or rows[3]["errors"]  # a failure is recorded, not raised
