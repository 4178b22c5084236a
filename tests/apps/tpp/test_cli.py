import json

import pytest

from rnnzoo.cli import main


def test_tpp_trains_and_reports_the_true_process(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["tpp", "--steps", "3", "--n-sequences", "20", "--n-events", "8", "--no-progress", "--out", str(out)]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "test  ll/event" in text and "true  ll/event" in text
    result = json.loads((out / "results.json").read_text())
    assert result["integral"] == "closed form" and result["ll_gap"] < 10
    with pytest.raises(SystemExit):  # the run directory is not overwritten without --overwrite
        main(args)
    assert "--overwrite" in capsys.readouterr().err


def test_tpp_reads_a_user_csv_and_names_a_bad_row(tmp_path, capsys):
    path = tmp_path / "e.csv"
    path.write_text("seq_id,time,mark\n" + "".join(f"s{i},{t},{t % 2}\n" for i in range(30) for t in (1, 2, 3)))
    assert main(["tpp", "--events", str(path), "--head", "nhp", "--steps", "2", "--no-progress"]) == 0
    path.write_text("seq_id,time,mark\na,2,0\na,1,0\n")
    with pytest.raises(SystemExit):
        main(["tpp", "--events", str(path), "--steps", "2", "--no-progress"])
    assert "e.csv:3: negative gap -1" in capsys.readouterr().err


def test_tpp_resumes_exactly_where_it_stopped(tmp_path):
    common = ["tpp", "--n-sequences", "20", "--n-events", "8", "--checkpoint-every", "2", "--no-progress"]
    assert main([*common, "--steps", "2", "--out", str(tmp_path / "a")]) == 0
    assert main([*common, "--steps", "4", "--out", str(tmp_path / "a"), "--resume"]) == 0
    assert main([*common, "--steps", "4", "--out", str(tmp_path / "b")]) == 0
    resumed, straight = (json.loads((tmp_path / d / "results.json").read_text()) for d in "ab")
    assert resumed["steps"] == 4 and resumed["test"] == straight["test"]
