from dataclasses import replace
from pathlib import Path

import pytest
import torch

from rnnzoo.studies import sparsity as sp
from rnnzoo.studies.records import Records


def tiny(tmp_path):
    return sp.Config(seeds=(0,), out_dir=str(tmp_path / "out"), doc=str(tmp_path / "doc" / "sp.md"),
                     levels=(0.0, 0.5, 0.9), steps=2, finetune_steps=2, d_model=8, batch_size=2, seq_len=8,
                     eval_chars=300)


@pytest.mark.parametrize("mixer", sp.MODELS)
def test_magnitude_masks_keep_the_largest_entries_at_the_level(mixer):
    model = sp.build(mixer, 5, tiny(Path("/tmp")))
    masks = sp.magnitude_masks(model, sp.PRUNED[mixer], 0.75)
    for name, w in sp.weights(model, sp.PRUNED[mixer]).items():
        m = masks[name]
        assert m.sum().item() == w.numel() - round(0.75 * w.numel())
        assert w.detach().abs()[m].min() >= w.detach().abs()[~m].max()
    sp.apply(model, masks)
    assert sp.zero_fraction(model, sp.PRUNED[mixer]) == pytest.approx(0.75, abs=0.01)


def test_random_graph_mask_is_shared_by_the_gates_of_a_unit():
    model = sp.build("lstm", 5, tiny(Path("/tmp")))
    mask = sp.graph_mask(model, "weight_hh", 4, 0.8, torch.Generator().manual_seed(0))["weight_hh"]
    assert mask.shape == (32, 8)
    assert all(torch.equal(mask[:8], mask[8 * g:8 * g + 8]) for g in range(4))


def test_masks_hold_through_training(tmp_path):
    cfg = tiny(tmp_path)
    model = sp.build("gru", 5, cfg)
    masks = sp.magnitude_masks(model, sp.PRUNED["gru"], 0.9)
    sp.apply(model, masks)
    sp.train(model, torch.randint(0, 5, (500,)), 3, cfg, 0, masks)
    for name, w in sp.weights(model, sp.PRUNED["gru"]).items():
        assert (w[~masks[name]] == 0).all()


def test_a_tiny_study_writes_records_and_doc(tmp_path, monkeypatch):
    text = torch.randint(0, 5, (3000,))
    monkeypatch.setattr(sp, "stdlib_ids", lambda: {"vocab": 5, "train": text, "test": text})
    sp.run(tiny(tmp_path))
    rows = Records(tmp_path / "out" / "runs.jsonl", ("kind",)).rows
    assert len(rows) == 3 * (3 + 2)  # pruned at every level, random graph above 0
    doc = (tmp_path / "doc" / "sp.md").read_text()
    assert "| lstm | random graph |" in doc and "## Verdict" in doc and (tmp_path / "doc" / "sp.png").exists()
    sp.run(replace(tiny(tmp_path), seeds=(0,), levels=(0.0,)))  # resumes: a subset of the same setup runs nothing
    assert len(Records(tmp_path / "out" / "runs.jsonl", ("kind",)).rows) == 15
    sp.run(replace(tiny(tmp_path), steps=3, levels=(0.0,)))  # other settings: new runs, never the old ones
    rows = Records(tmp_path / "out" / "runs.jsonl", ("kind",)).rows
    assert len(rows) == 15 + 3 and len({r["setup"] for r in rows}) == 2
