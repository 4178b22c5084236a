import torch

from rnnzoo.tasks import Parity


def test_labels_are_prefix_xor():
    x, y = Parity(seq_len=37).make("train", 50, 0)
    for row in range(50):
        acc = 0
        for t in range(37):
            acc ^= int(x[row, t])
            assert int(y[row, t]) == acc
    assert 0.4 < x.float().mean() < 0.6


def test_evaluate_scores_the_final_position_at_every_test_length():
    task = Parity(seq_len=10, test_lens=(10, 30))

    def oracle(tokens):  # right only at the last position
        logits = torch.nn.functional.one_hot(tokens.cumsum(1) % 2, 2).float()
        logits[:, :-1] = logits[:, :-1].flip(-1)
        return logits

    assert task.evaluate(oracle, n=20, seed=0) == {10: 1.0, 30: 1.0}
    x, y = task.make("test", 5, 0)
    assert task.make("test", 5, 0)[0].equal(x)
