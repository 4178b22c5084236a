"""The MEAP study runs end to end at a tiny scale, writes its doc and plot, and resumes."""

import json
from dataclasses import replace

from rnnzoo.studies import meap


def lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_meap_runs_resumes_and_reports(tmp_path):
    config = meap.Config(seeds=(0,), out=str(tmp_path / "r"), doc=str(tmp_path / "meap.md"), mixers=("gla",),
                         steps=2, batch_size=4, test_n=8, d_model=16)
    summary = meap.run(config)
    records = lines(tmp_path / "r" / "results.jsonl")
    assert len(records) == 4 and {r["settings"]["fraction"] for r in records} == {0.0, 0.15}
    text = (tmp_path / "meap.md").read_text()
    assert meap.CLAIM in text and "| mqar | gla |" in text and (tmp_path / "meap.png").exists()
    assert "rnnzoo study meap --seeds 0" in text and summary["verdict"] in text
    meap.run(config)  # resumed: nothing retrained
    assert len(lines(tmp_path / "r" / "results.jsonl")) == 4
    partial = replace(config, mixers=("gla", "lstm"), report_only=True, doc=str(tmp_path / "partial.md"))
    meap.run(partial)  # lstm has no records: reported without it, nothing trained
    assert len(lines(tmp_path / "r" / "results.jsonl")) == 4
    assert "| mqar | gla |" in (tmp_path / "partial.md").read_text()
    assert "lstm |" not in (tmp_path / "partial.md").read_text()

