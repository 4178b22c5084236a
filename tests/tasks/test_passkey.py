import torch

from rnnzoo.tasks import IGNORE, Passkey
from rnnzoo.tasks.passkey import KEY, QUERY


def test_passkey_after_key_marker_is_the_answer():
    task = Passkey(seq_len=32, key_len=3, filler_len=5)
    for length in (32, 64, 128):
        x, y = task.at_length(length).make("test", 50, 0)
        assert x.shape == (50, length) and x.max() < task.vocab_size
        for row in range(50):
            k = (x[row] == KEY).nonzero()[:, 0].tolist()
            assert len(k) == 1 and x[row, length - 3] == QUERY
            digits = x[row, k[0] + 1:k[0] + 4]
            assert y[row, -3:].tolist() == digits.tolist() and (y[row, :-3] == IGNORE).all()
            assert x[row, -2:].tolist() == digits[:2].tolist()


def test_jrt_repeats_everything_before_the_query():
    x, y = Passkey(seq_len=32, key_len=2).make("test", 4, 0)
    xj, yj = Passkey(seq_len=32, key_len=2, jrt=True).make("test", 4, 0)
    assert torch.equal(xj[:, :30], x[:, :30]) and torch.equal(xj[:, 30:], x) and torch.equal(yj[:, 30:], y)
