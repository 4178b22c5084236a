import torch

from rnnzoo.studies import curricula as cu
from rnnzoo.studies.records import Records


def test_labels_are_parity_of_the_last_n_bits_and_delayed_match():
    bits = torch.tensor([[1, 0, 1, 1, 0, 0]])
    assert cu.labels(bits, "parity", 3).tolist() == [[0, 0, 0, 1]]  # windows 101, 011, 110, 100
    assert cu.labels(bits, "dms", 2).tolist() == [[1, 0, 0, 0]]  # bit t == bit t-2 for t = 2..5


def test_time_constants_start_near_one_and_never_go_below():
    model = cu.LeakyRNN(8)
    with torch.no_grad():
        model.theta[:4] = -30.0
    assert (model.tau >= 1).all() and model.tau[4:].mean().item() < 1.2
    assert model(torch.zeros(2, 5)).shape == (2, 5, 8)


def test_scoring_reads_each_head_at_its_own_delay():
    model = cu.LeakyRNN(4)
    for n in (2, 3):
        model.heads[str(n)] = torch.nn.Linear(4, 2)
    bits = torch.randint(0, 2, (3, 12))
    loss, acc = cu.loss_and_accuracy(model, bits, "dms", [2, 3])
    assert loss.requires_grad and set(acc) == {2, 3}


def test_a_tiny_study_writes_records_and_doc(tmp_path):
    cfg = cu.Config(seeds=(0,), out_dir=str(tmp_path / "out"), doc=str(tmp_path / "doc" / "cu.md"), steps=4,
                    block_steps=2, threshold=0.0, hidden=4, seq_len=8, batch_size=2, max_n=3)
    cu.run(cfg)
    rows = Records(tmp_path / "out" / "runs.jsonl", ("task",)).rows
    assert len(rows) == 4
    assert all(r["largest_n"] == 3 for r in rows)  # threshold 0: every block solves its N, up to max_n
    multi = next(r for r in rows if r["curriculum"] == "multi")
    assert [s["n"] for s in multi["solved"]] == [2, 3]
    assert "## Verdict" in (tmp_path / "doc" / "cu.md").read_text() and (tmp_path / "doc" / "cu.png").exists()
