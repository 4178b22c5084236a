from dataclasses import replace

import torch

from rnnzoo.studies import get, liger
from rnnzoo.studies.records import Records


def test_a_tiny_study_writes_every_run_and_the_doc(tmp_path, monkeypatch):
    text = torch.randint(0, 7, (3000,))
    monkeypatch.setattr(liger, "stdlib_ids", lambda: {"vocab": 7, "train": text, "test": text})
    cfg = liger.Config(seeds=(0,), out_dir=str(tmp_path / "out"), doc=str(tmp_path / "doc" / "lg.md"), d_model=16,
                       num_heads=2, batch_size=2, seq_len=16, steps=2, finetune_steps=2, window=4, eval_chars=300)
    summary = liger.run(cfg)
    rows = Records(tmp_path / "out" / "runs.jsonl", ("kind",)).rows
    assert len(rows) == 2 + 2 * (1 + 2 + 1)  # teacher and its control; per variant: none, lora, full, scratch
    lora = next(r for r in rows if r["kind"] == "converted" and r["finetune"] == "lora")
    full = next(r for r in rows if r["kind"] == "converted" and r["finetune"] == "full")
    assert 0 < lora["trainable"] < full["trainable"]
    doc = (tmp_path / "doc" / "lg.md").read_text()
    assert "## Verdict" in doc and "| Liger Attention, from scratch |" in doc and (tmp_path / "doc" / "lg.png").exists()
    assert all(v is not None for v in summary.values())
    liger.run(cfg)  # resumes: nothing new
    assert len(Records(tmp_path / "out" / "runs.jsonl", ("kind",)).rows) == len(rows)
    liger.run(replace(cfg, seeds=(0, 1), report_only=True))  # seed 1 missing: reported partial, nothing trained
    assert len(Records(tmp_path / "out" / "runs.jsonl", ("kind",)).rows) == len(rows)
    assert "**Partial:**" in (tmp_path / "doc" / "lg.md").read_text() and get("liger") is liger
