from dataclasses import replace

import pytest
import torch

from rnnzoo.studies import get, languini
from rnnzoo.studies.records import Records


def test_power_law_fit_recovers_a_and_b_and_the_crossing():
    c = [10.0, 20.0, 40.0]
    a, b = languini.power_law(c, [3.0 * x ** -0.2 for x in c])
    assert a == pytest.approx(3.0) and b == pytest.approx(0.2)
    assert languini.power_law([10.0], [2.0]) is None
    cross = languini.crossing((3.0, 0.1), (6.0, 0.2))  # 3 C^-0.1 = 6 C^-0.2 at C = 2^10
    assert cross == pytest.approx(1024.0) and languini.crossing((3.0, 0.1), (6.0, 0.1)) is None


def test_steps_are_what_the_budget_buys_at_the_measured_throughput():
    cfg = languini.Config(batch_size=4, seq_len=10)
    assert languini.steps_for(10.0, 400.0, cfg) == 100 and languini.steps_for(0.001, 400.0, cfg) == 1
    with pytest.raises(ValueError, match="budgets must be positive"):
        languini.Config(budgets=(0.0, 1.0))


def test_a_tiny_study_measures_throughput_trains_each_class_and_writes_the_doc(tmp_path, monkeypatch):
    text = torch.randint(0, 7, (3000,))
    monkeypatch.setattr(languini, "stdlib_ids", lambda: {"vocab": 7, "train": text, "test": text})
    cfg = languini.Config(seeds=(0,), out_dir=str(tmp_path / "out"), doc=str(tmp_path / "doc" / "lk.md"),
                          mixers=("gru", "attention"), budgets=(0.01, 0.02), d_model=8, n_layers=1, batch_size=2,
                          seq_len=8, throughput_steps=1, eval_chars=300)
    languini.run(cfg)
    rows = Records(tmp_path / "out" / "runs.jsonl", ("kind",)).rows
    assert sorted(r["kind"] for r in rows) == ["run"] * 4 + ["throughput"] * 2
    tp = {r["model"]: r["tokens_per_s"] for r in rows if r["kind"] == "throughput"}
    for r in (r for r in rows if r["kind"] == "run"):
        assert r["steps"] == languini.steps_for(r["budget"], tp[r["model"]], cfg)
    doc = (tmp_path / "doc" / "lk.md").read_text()
    assert "| attention |" in doc and "## Verdict" in doc and (tmp_path / "doc" / "lk.png").exists()
    languini.run(replace(cfg, mixers=("gru", "attention", "lstm"), report_only=True))  # lstm: nothing trained
    assert len(Records(tmp_path / "out" / "runs.jsonl", ("kind",)).rows) == len(rows)
    assert "**Partial:**" in (tmp_path / "doc" / "lk.md").read_text() and get("languini") is languini
