"""Combinatorial tasks: generators give exact targets, input reordering keeps their meaning, metrics are
right on known answers, bad input is refused, and a tiny run (not to accuracy) goes end to end."""

import json
from dataclasses import replace

import numpy as np
import pytest

from rnnzoo.apps.combinatorial import (
    Seq2SeqTrainConfig,
    build_model,
    convex_hull,
    evaluate,
    load_model,
    make_batch,
    predict,
    reorder,
    tour_length,
    train_seq2seq,
)
from rnnzoo.apps.combinatorial.solvers import held_karp
from rnnzoo.apps.combinatorial.train import score
from rnnzoo.cli import main
from rnnzoo.models.seq2seq import Seq2SeqConfig


def test_generators_give_exact_targets_and_are_pure():
    src, t = make_batch("sort", 0, 4, 6)
    assert (np.diff(np.take_along_axis(src[..., 0], t - 1, 1), axis=1) > 0).all()
    src, t = make_batch("convex_hull", 1, 4, 8)
    for p, row in zip(src, t):
        hull = convex_hull(p) + 1
        assert row[:len(hull)].tolist() == hull.tolist() and row[len(hull)] == 0 and (row[len(hull) + 1:] == -100).all()
    src, t = make_batch("tsp", 2, 3, 6)
    assert np.allclose([tour_length(p, r - 1) for p, r in zip(src, t)], held_karp(src)[1])
    src, t = make_batch("reverse", 3, 2, 5)
    assert (t[:, :5] - 1 == src[:, ::-1]).all() and (t[:, 5] == 0).all()
    a, b = make_batch("convex_hull", [7, 1], 3, 5), make_batch("convex_hull", [7, 1], 3, 5)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


@pytest.mark.parametrize("order", ["ascending", "descending"])
def test_reordered_inputs_keep_the_same_answers(order):
    src, t = make_batch("convex_hull", 4, 5, 7)
    s2, t2 = reorder("convex_hull", src, t, order)
    key = np.argsort(s2[..., 0], 1)
    assert (key == (np.arange(7) if order == "ascending" else np.arange(7)[::-1])).all()
    for p, row, p2, row2 in zip(src, t, s2, t2):
        pick = lambda pts, r: pts[[i - 1 for i in r if i > 0]]  # noqa: E731
        assert np.array_equal(pick(p, row), pick(p2, row2))
        assert (row2 == -100).sum() == (row == -100).sum()


def test_scores_on_known_answers():
    src, t = make_batch("convex_hull", 5, 2, 8)
    truth = [[i - 1 for i in row if i > 0] for row in t.tolist()]
    assert score("convex_hull", src, t, truth) == {"exact": 1.0, "area_coverage": 1.0, "not_simple": 0.0}
    half = [truth[0], truth[1][:-1]]  # dropping one vertex: still simple, less area, not exact
    m = score("convex_hull", src, t, half)
    assert m["exact"] == 0.5 and 0.5 < m["area_coverage"] < 1.0
    src, t = make_batch("tsp", 6, 2, 6)
    tours = [[i - 1 for i in row] for row in t.tolist()]
    assert score("tsp", src, t, tours)["gap"] == pytest.approx(0.0, abs=1e-12)
    worse = [tours[0], [tours[1][0], tours[1][2], tours[1][1], *tours[1][3:]]]  # two cities swapped
    m = score("tsp", src, t, worse)
    assert m["gap"] > 0 and m["exact"] == 0.5


def test_predict_refuses_bad_input():
    model = build_model(Seq2SeqTrainConfig(model=Seq2SeqConfig(d_model=16), task="convex_hull", n=6))
    with pytest.raises(ValueError, match=r"duplicate point \[0.2, 0.3\]"):
        predict(model, "convex_hull", np.array([[[0.2, 0.3], [0.9, 0.1], [0.2, 0.3], [0.5, 0.8]]]))
    with pytest.raises(ValueError, match="exceeds the trained maximum max_len=6"):
        predict(model, "convex_hull", np.random.default_rng(0).random((1, 9, 2)))
    with pytest.raises(ValueError, match="empty input"):
        predict(model, "convex_hull", np.zeros((1, 0, 2)))
    with pytest.raises(ValueError, match="unknown task 'knapsack'"):
        Seq2SeqTrainConfig(task="knapsack")
    with pytest.raises(ValueError, match="n_min=2"):
        Seq2SeqTrainConfig(task="convex_hull", n=5, n_min=2)


def test_tiny_run_end_to_end_through_the_cli(tmp_path, capsys):
    out = tmp_path / "tsp"
    rc = main(["seq2seq", "--task", "tsp", "--n-min", "4", "--n", "5", "--steps", "3", "--batch-size", "8",
               "--train-order", "descending",
               "--d-model", "16", "--eval-size", "6", "--beam-eval-size", "2", "--beams", "2",
               "--eval-orders", "random,ascending", "--out", str(out), "--no-progress"])
    assert rc == 0
    r = json.loads((out / "results.json").read_text())
    assert set(r["eval"]) == {"4", "5", "4/ascending", "5/ascending"}
    for res in r["eval"].values():
        assert res["best_of_beam"]["gap"] <= res["beam"]["gap"] + 1e-12  # best of the beam includes its top
        assert res["greedy"]["tour_length"] >= res["greedy"]["optimal_length"] - 1e-12
    assert "n=5" in capsys.readouterr().out
    model, cfg = load_model(out)  # the saved model reproduces the reported numbers
    assert cfg.train_order == "descending" and cfg.n_min == 4
    assert evaluate(model, cfg, 5, "ascending", cfg.beams) == r["eval"]["5/ascending"]
    # results.json as the flat-config version wrote it: it still loads, into the nested config
    saved = json.loads((out / "results.json").read_text())
    saved["config"] = {
        "task": "tsp", "n": 5, "n_min": 4, "encoder": "lstm", "decoder": "lstm", "bidirectional": False,
        "attention": "bahdanau", "process_steps": 5, "mask_pointed": True, "d_model": 16, "n_layers": 1, "steps": 3,
        "batch_size": 8, "lr": 0.002, "beams": 2, "eval_size": 6, "beam_eval_size": 2, "train_order": "descending",
        "eval_orders": ["random", "ascending"], "seed": 0, "out_dir": str(out), "progress": False}
    (out / "results.json").write_text(json.dumps(saved))
    old_model, old_cfg = load_model(out)
    assert old_cfg == cfg and old_cfg.eval_orders == ("random", "ascending") and old_cfg.model.in_features == 2
    assert evaluate(old_model, old_cfg, 5, "ascending", old_cfg.beams) == r["eval"]["5/ascending"]
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        load_model(tmp_path)
    weights = out / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])  # truncated
    with pytest.raises(ValueError, match="cannot load"):
        load_model(out)


def test_reverse_task_runs_with_token_head():
    r = train_seq2seq(Seq2SeqTrainConfig(
        model=Seq2SeqConfig(encoder="gru", bidirectional=True, attention="luong", d_model=16),
        train=replace(Seq2SeqTrainConfig().train, steps=2, progress=False),
        task="reverse", n=4, batch_size=4, eval_size=4, beam_eval_size=2))
    assert 0.0 <= r["eval"]["4"]["beam"]["exact"] <= 1.0


def test_cli_bad_value_is_one_clear_error(capsys):
    with pytest.raises(SystemExit) as e:
        main(["seq2seq", "--task", "tsp", "--n", "13", "--steps", "1", "--no-progress"])
    assert e.value.code == 2 and "n=13" in capsys.readouterr().err


def test_n_below_the_task_minimum_says_what_n_must_be(capsys):
    with pytest.raises(SystemExit) as e:
        main(["seq2seq", "--n", "1", "--steps", "1", "--no-progress"])
    assert e.value.code == 2 and "n must be >= 2 for sort, got n=1" in capsys.readouterr().err
    assert Seq2SeqTrainConfig(n=4).smallest_n == 4  # n_min None follows n, also in a copy with another n
    assert replace(Seq2SeqTrainConfig(), n=4).smallest_n == 4


def test_a_directory_holding_a_run_is_refused_unless_overwrite(tmp_path, capsys):
    flags = ["seq2seq", "--task", "reverse", "--n", "3", "--steps", "1", "--batch-size", "4", "--d-model", "8",
             "--eval-size", "2", "--beam-eval-size", "1", "--out", str(tmp_path), "--no-progress"]
    assert main(flags) == 0
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        main(flags)
    assert e.value.code == 2 and "already holds a run" in capsys.readouterr().err
    assert main([*flags, "--overwrite"]) == 0
