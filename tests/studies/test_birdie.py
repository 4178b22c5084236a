import json

from rnnzoo.studies import birdie


def lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_birdie_runs_and_records_the_objective_weights(tmp_path):
    config = birdie.Config(seeds=(0,), out=str(tmp_path / "r"), doc=str(tmp_path / "birdie.md"), d_model=16,
                           pretrain_steps=4, finetune_steps=2, update_every=2, batch_size=4, test_n=4)
    birdie.run(config)
    records = {r["settings"]["method"]: r for r in lines(tmp_path / "r" / "results.jsonl")}
    weights = records["birdie"]["objective_weights"]
    assert len(weights) == 2 and all(abs(sum(w) - 1) < 1e-9 for w in weights)
    assert set(records["next_token"]["exact_match"]) == {"lookup", "infill"}
    assert "Final Birdie objective weights" in (tmp_path / "birdie.md").read_text()

