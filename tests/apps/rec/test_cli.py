import json

import pytest

from rnnzoo.cli import main
from tests.apps.rec.test_data import write_inter


def test_rec_command_prints_and_writes_results(tmp_path, capsys):
    rows = [(f"u{u}", f"i{(u * 5 + t * 3) % 13}", t) for u in range(5) for t in range(7)]
    path = write_inter(tmp_path / "t.inter", rows)
    assert main(["rec", "--model", "gru4rec", "--data", str(path), "--steps", "2", "--batch-size", "4",
                 "--d-model", "16", "--no-progress", "--out", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert "5 users, 13 items, 35 interactions" in out
    test_line = next(line for line in out.splitlines() if line.startswith("test"))
    saved = json.loads((tmp_path / "run" / "results.json").read_text())
    assert f"ndcg@10={saved['test']['ndcg@10']:.4f}" in test_line and "mrr@20=" in test_line


def test_rec_refuses_a_directory_holding_a_run_before_reading_data(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "results.json").write_text("{}")
    with pytest.raises(SystemExit) as e:  # --data does not exist: the directory is checked first
        main(["rec", "--data", str(tmp_path / "none.inter"), "--out", str(tmp_path / "run")])
    assert e.value.code == 2 and "already holds a run" in capsys.readouterr().err


@pytest.mark.parametrize("epochs", ["0", "-2"])
def test_rec_bad_epochs_is_reported_as_epochs_before_reading_data(tmp_path, capsys, epochs):
    with pytest.raises(SystemExit) as e:
        main(["rec", "--data", str(tmp_path / "none.inter"), "--epochs", epochs])
    assert e.value.code == 2 and f"epochs must be >= 1 or None, got {epochs}" in capsys.readouterr().err


def test_rec_overwrite_replaces_the_run(tmp_path, capsys):
    rows = [(f"u{u}", f"i{(u * 5 + t * 3) % 13}", t) for u in range(5) for t in range(7)]
    path = write_inter(tmp_path / "t.inter", rows)
    flags = ["rec", "--model", "gru4rec", "--data", str(path), "--steps", "2", "--batch-size", "4",
             "--d-model", "16", "--no-progress", "--out", str(tmp_path / "run")]
    assert main(flags) == 0
    with pytest.raises(SystemExit):
        main(flags)
    assert main([*flags, "--overwrite"]) == 0
    assert all("run_id" in json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines())


def test_rec_cold_start_prints_warm_and_cold(tmp_path, capsys):
    from tests.apps.rec.test_text import write_items

    rows = [(f"u{u}", f"i{(u * 5 + t * 3) % 13}", t) for u in range(5) for t in range(7)]
    write_inter(tmp_path / "t.inter", rows)
    write_items(tmp_path / "t.item")
    assert main(["rec", "--model", "pop", "--data", str(tmp_path), "--cold-items", "0.3"]) == 0
    out = capsys.readouterr().out
    assert "test_warm " in out and "test_cold " in out
    with pytest.raises(SystemExit) as e:
        main(["rec", "--model", "pop", "--data", str(tmp_path), "--cold-items", "1.5"])
    assert e.value.code == 2 and "cold_items must be in [0, 1)" in capsys.readouterr().err


def test_rec_options_run_from_the_command_line_and_are_saved(tmp_path, capsys):
    rows = [(f"u{u}", f"i{(u * 5 + t * 3) % 13}", t) for u in range(5) for t in range(7)]
    path = write_inter(tmp_path / "t.inter", rows)
    assert main(["rec", "--model", "sasrec", "--data", str(path), "--steps", "2", "--batch-size", "4",
                 "--d-model", "16", "--no-progress", "--decoupled", "--actr", "--contrastive-weight", "0.1",
                 "--out", str(tmp_path / "run")]) == 0
    saved = json.loads((tmp_path / "run" / "results.json").read_text())
    assert saved["model"] == "sasrec+icl+dare+actr"
    assert saved["config"]["decoupled"] and saved["config"]["actr"] and saved["config"]["contrastive_weight"] == 0.1
    assert main(["rec", "recommend", "--checkpoint", str(tmp_path / "run"), "--user", "u1", "--k", "3"]) == 0
    assert len([line for line in capsys.readouterr().out.splitlines() if line.strip()][-3:]) == 3
