"""The MAD protocol: its settings and sweep, the best-of-sweep MAD score, and a ``mad`` run resuming after a kill."""

import pytest

from rnnzoo.bench import Suite, TaskRun, get_suite, load_records, run_suite, runner
from rnnzoo.bench.mad import LADDERS, SWEEP, mad_scores, settings


def test_protocol_settings_and_sweep_match_the_reference_configs():
    assert [len(settings(t)) for t in LADDERS] == [11, 11, 14, 13, 11, 6]
    assert settings("mad_memorization")[-1] == "mad_memorization:vocab=8192:seq_len=32:num_train_examples=256"
    assert SWEEP == ((1e-4, 0.0), (1e-4, 0.1), (5e-4, 0.0), (5e-4, 0.1), (1e-3, 0.0), (1e-3, 0.1))
    suite = get_suite("mad")
    assert len(suite.tasks) == 66 * 6 and suite.d_models == (128,) and {r.n_layers for r in suite.tasks} == {2}


def _rec(task, lr, wd, seed, acc, mixer="m"):
    return {"mixer": mixer, "d_model": 8, "task": task, "lr": lr, "weight_decay": wd, "seed": seed,
            "accuracy": {"16": acc}}


def test_score_keeps_the_best_sweep_point_per_setting_then_averages_settings_and_tasks():
    a, b = settings("mad_compression")[:2]
    c = settings("mad_memorization")[0]
    records = [_rec(a, 1e-4, 0.0, s, x) for s, x in ((0, 0.2), (1, 0.4))]
    records += [_rec(a, 1e-3, 0.0, s, x) for s, x in ((0, 0.8), (1, 0.6))]   # best for a: mean 0.7
    records += [_rec(b, 1e-3, 0.1, s, x) for s, x in ((0, 0.5), (1, 0.3))]
    records += [_rec(c, 1e-4, 0.1, s, 1.0) for s in (0, 1)]
    scores = mad_scores(records)[("m", 8)]
    assert scores["mad_compression"] == pytest.approx([(0.8 + 0.5) / 2, (0.6 + 0.3) / 2])
    assert scores["mad_memorization"] == [1.0, 1.0]
    assert scores["score"] == pytest.approx([(0.65 + 1) / 2, (0.45 + 1) / 2])


def test_a_mad_run_resumes_after_a_kill(tmp_path, monkeypatch):
    tiny = Suite(name="mad", mixers=("gru",), d_models=(16,), seeds=(0,), test_n=4, tasks=(
        TaskRun("mad_in_context_recall:seq_len=16:num_train_examples=32", steps=1, batch_size=2, n_layers=2),
        TaskRun("mad_compression:seq_len=8", steps=1, batch_size=2, n_layers=2),
        TaskRun("mad_compression:seq_len=8", steps=1, batch_size=2, lr=1e-3, n_layers=2)))
    calls = []
    real = runner.train_and_eval

    def killed_on_the_second(*args):
        calls.append(args[1].spec)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(runner, "train_and_eval", killed_on_the_second)
    with pytest.raises(KeyboardInterrupt):
        run_suite(tiny, tmp_path, progress=False, log=lambda msg: None)
    assert len(load_records(tmp_path)) == 1
    monkeypatch.setattr(runner, "train_and_eval", lambda *a: calls.append(a[1].spec) or real(*a))
    records = run_suite(tiny, tmp_path, progress=False, log=lambda msg: None)
    assert len(records) == 3 and len(calls) == 4  # the finished run was not redone
    assert [r["config"]["backbone"] for r in records] == ["mad_lm", "mad_autoencoder", "mad_autoencoder"]
    table = (tmp_path / "mad.md").read_text()
    assert "| gru | 16 |" in table and "MAD score" in table
