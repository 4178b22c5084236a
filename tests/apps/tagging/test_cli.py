import json

from rnnzoo.cli import main


def test_tag_trains_and_reports_per_tag_f1(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["tag", "--steps", "2", "--d-model", "8", "--seq-len", "32", "--train-chars", "5000",
                 "--eval-chars", "2000", "--no-global-context", "--no-progress", "--out", str(out)]) == 0
    assert "macro F1" in capsys.readouterr().out
    result = json.loads((out / "results.json").read_text())
    assert set(result["test"]["f1"]) == {"space", "name", "keyword", "operator", "number", "string", "comment"}
    assert result["global_context"] is False and result["files"]["test"] >= 1


def test_tag_resumes_exactly_where_it_stopped(tmp_path):
    common = ["tag", "--d-model", "8", "--seq-len", "32", "--train-chars", "5000", "--eval-chars", "2000",
              "--no-global-context", "--checkpoint-every", "1", "--no-progress"]
    assert main([*common, "--steps", "1", "--out", str(tmp_path / "a")]) == 0
    assert main([*common, "--steps", "2", "--out", str(tmp_path / "a"), "--resume"]) == 0
    assert main([*common, "--steps", "2", "--out", str(tmp_path / "b")]) == 0
    resumed, straight = (json.loads((tmp_path / d / "results.json").read_text()) for d in "ab")
    assert resumed["steps"] == 2 and resumed["test"] == straight["test"]
