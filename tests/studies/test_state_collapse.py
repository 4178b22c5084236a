import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from rnnzoo.studies import state_collapse as sc
from rnnzoo.studies.records import Records


def tiny(tmp_path, **kw):
    return sc.Config(seeds=(0,), out_dir=str(tmp_path / "out"), doc=str(tmp_path / "doc" / "sc.md"), steps=2,
                     passkey_steps=2, batch_size=2, d_model=16, n_layers=1, train_len=8, long_len=16, eval_len=40,
                     eval_rows=2, piece=4, **kw)


def _lm(mixer):
    torch.manual_seed(0)
    return sc.build(mixer, 7, tiny(Path("/tmp")))


def test_more_forgetting_raises_the_dt_bias_of_a_copy():
    for mixer, bias in (("mamba", lambda m: m.dt_proj.bias), ("mamba2", lambda m: m.dt_bias)):
        model = _lm(mixer)
        shifted = sc.more_forgetting(model, 1.5)
        torch.testing.assert_close(bias(shifted.blocks[0].mixer), bias(model.blocks[0].mixer) + 1.5)


def test_reading_in_pieces_equals_one_call_and_statenorm_caps_the_norm():
    model = _lm("mamba2")
    tokens = torch.randint(0, 7, (2, 24))
    logits, trace = sc.read(model, tokens, piece=4, ref_len=None)
    torch.testing.assert_close(logits, model(tokens), atol=1e-5, rtol=1e-5)
    assert len(trace[0][0]) == 6 and len(trace[0][1]) == 6
    _, capped = sc.read(model, tokens[:1], piece=4, ref_len=8)  # one row: the trace is its own norm
    assert max(capped[0][0][2:]) <= max(capped[0][0][:2]) * (1 + 1e-5)


def test_sliding_windows_score_every_target_with_bounded_context():
    model = _lm("gla")
    tokens, targets = torch.randint(0, 7, (2, 20)), torch.randint(0, 7, (2, 20))
    nll = sc.sliding_nll(model, tokens, targets, window=5)
    full = F.cross_entropy(model(tokens[:, 5:15]).transpose(1, 2), targets[:, 5:15], reduction="none")
    torch.testing.assert_close(nll[:, 10:15], full[:, 5:] / torch.log(torch.tensor(2.0)))
    torch.testing.assert_close(nll[:, :10], sc.sliding_nll(model, tokens[:, :10], targets[:, :10], 5))


def test_a_tiny_study_writes_records_doc_and_plots_and_resumes(tmp_path, monkeypatch):
    text = torch.randint(0, 7, (4000,))
    monkeypatch.setattr(sc, "stdlib_ids", lambda: {"vocab": 7, "chars": tuple("<abcdef"), "train": text, "test": text})
    monkeypatch.setattr(sc, "save_lm", lambda *a: None)
    cfg = tiny(tmp_path)
    summary = sc.run(cfg)
    rows = Records(tmp_path / "out" / "runs.jsonl", ("kind",)).rows
    assert len(rows) == len(sc.LM_RUNS) + len(sc.MODES) and all("provenance" in r for r in rows)
    lm = next(r for r in rows if r["model"] == "mamba" and r["variant"] == "base")
    assert set(lm["eval"]) == {"plain", "forget", "statenorm"} and set(lm["sliding_bpc"]) == {"0-8", "8-32", "32-40"}
    doc = (tmp_path / "doc" / "sc.md").read_text()
    assert "## Verdict" in doc and "| mamba2 | tbptt | plain |" in doc
    assert (tmp_path / "doc" / "sc_bpc.png").exists() and (tmp_path / "doc" / "sc_states.png").exists()
    assert summary
    monkeypatch.setattr(sc, "lm_run", lambda *a: pytest.fail("a recorded run was computed again"))
    sc.run(cfg)
    assert len((tmp_path / "out" / "runs.jsonl").read_text().splitlines()) == len(rows)
    json.loads((tmp_path / "out" / "runs.jsonl").read_text().splitlines()[0])
