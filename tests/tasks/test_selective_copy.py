import torch

from rnnzoo.tasks import IGNORE, SelectiveCopy


def test_targets_are_the_data_tokens_in_order_after_the_markers():
    task = SelectiveCopy(seq_len=32, vocab=10, num_tokens=6)
    x, y = task.make("train", 100, 0)
    body = 26
    assert (x[:, body:] == 9).all() and (y[:, :body] == IGNORE).all()
    for row in range(100):
        data = x[row, :body][x[row, :body] != 0]
        assert data.tolist() == y[row, body:].tolist()
        assert ((data >= 1) & (data <= 8)).all()
    assert torch.equal(x, task.make("train", 100, 0)[0])
