import torch

from rnnzoo.studies import lexinvariant


def test_lexinvariant_runs_on_a_small_corpus(tmp_path, monkeypatch):
    ids = torch.arange(3000) % 17
    monkeypatch.setattr(lexinvariant, "text_data", lambda: (ids, ids, 17))
    config = lexinvariant.Config(seeds=(0,), out=str(tmp_path / "r"), doc=str(tmp_path / "lex.md"), d_model=16,
                                 task_steps=2, lm_steps=2, seq_len=16, batch_size=2, eval_windows=4, buckets=(4, 16))
    summary = lexinvariant.run(config)
    text = (tmp_path / "lex.md").read_text()
    assert "| 1-4 |" in text and "| 5-16 |" in text and (tmp_path / "lex.png").exists()
    assert set(summary) >= {f"{m}_{k}" for m in ("attention", "gla") for k in ("mqar_lexinvariant", "gap_first_bucket")}
    assert "**attention**. Symbol manipulation" in summary["verdict"] and "**gla**" in summary["verdict"]
