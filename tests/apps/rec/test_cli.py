import json

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
