"""benchmarks/recbole_peer/ours.py --table: one row per model, ratios over the seeds both libraries have."""

from recbole_peer import ours

from rnnzoo.io import append_jsonl


def _row(lib, model, seed, ndcg, wall, cpu=None):
    return {"library": lib, "model": model, "seed": seed, "test": {"hit@10": 2 * ndcg, "ndcg@10": ndcg, "mrr@10": ndcg / 2},
            "best_epoch": 3, "epochs": 13.0, "wall_seconds": wall, "cpu_seconds": cpu}


def test_table_pairs_the_libraries_on_common_seeds(tmp_path):
    mine, peer = tmp_path / "ours.jsonl", tmp_path / "peer.jsonl"
    append_jsonl(peer, _row("recbole", "GRU4Rec", 0, 0.060, 1000.0))
    for seed, ndcg in ((0, 0.057), (1, 0.090)):  # seed 1 has no peer row: left out of the ratios
        append_jsonl(mine, _row("rnnzoo", "gru4rec", seed, ndcg, 100.0))
    append_jsonl(mine, _row("rnnzoo", "sasrec", 0, 0.05, 50.0))
    lines = ours.table(mine, peer).splitlines()
    assert lines[0] == ours.TABLE_HEAD and len(lines) == 4  # head, rule, gru4rec, sasrec (no bert4rec rows)
    gru = [c.strip() for c in lines[2].strip("|").split("|")]
    assert gru[:2] == ["gru4rec", "0; 0,1"]
    assert gru[2] == "0.0600 ± 0.0000" and gru[4] == "0.95" and gru[10] == "0.10"
    assert gru[11] == "-"  # no CPU seconds on our seed-0 row
    sas = [c.strip() for c in lines[3].strip("|").split("|")]
    assert sas[1] == "-; 0" and sas[2] == "-" and sas[4] == "-" and sas[10] == "-" and sas[11] == "-"


def test_cpu_ratio_uses_the_common_seeds_that_record_cpu_time(tmp_path):
    mine, peer = tmp_path / "ours.jsonl", tmp_path / "peer.jsonl"
    for seed, cpu in ((0, None), (1, 800.0)):
        append_jsonl(peer, _row("recbole", "SASRec", seed, 0.06, 2000.0, cpu=1000.0))
        append_jsonl(mine, _row("rnnzoo", "sasrec", seed, 0.06, 100.0, cpu=cpu))
    sas = [c.strip() for c in ours.table(mine, peer).splitlines()[2].strip("|").split("|")]
    assert sas[10] == "0.05" and sas[11] == "0.80"
