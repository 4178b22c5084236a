"""benchmarks/train_step_ab.py: each revision's exported code runs in its own process (its rnnzoo, not the one
installed), rows carry the per-round speed-ups, and a revision git cannot export is a one-line error."""

import json
import subprocess
from pathlib import Path

import pytest
import train_step_ab

REPO = Path(__file__).resolve().parents[2]


def _in_a_git_checkout() -> bool:
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True).returncode == 0


@pytest.mark.skipif(not _in_a_git_checkout(), reason="not a git checkout")
def test_two_revisions_are_timed_in_turn(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    out = tmp_path / "ab.jsonl"
    train_step_ab.main(["--revs", "HEAD,HEAD~0", "--mixers", "gla", "--T", "8", "--B", "1", "--d-model", "32",
                        "--layers", "1", "--rounds", "1", "--steps", "1", "--out", str(out)])
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["mixer"], r["revision"], r["previous"]) for r in rows] == [("gla", "HEAD", None),
                                                                         ("gla", "HEAD~0", "HEAD")]
    assert all(r["runs"][0]["cpu"] > 0 and len(r["speedup_vs_previous"]) == 1 for r in rows)


@pytest.mark.skipif(not _in_a_git_checkout(), reason="not a git checkout")
def test_a_revision_git_cannot_export_is_named(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    with pytest.raises(SystemExit, match="no-such-revision"):
        train_step_ab.main(["--revs", "HEAD,no-such-revision", "--mixers", "gla", "--out", str(tmp_path / "x")])
