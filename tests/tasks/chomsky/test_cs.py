"""The context-sensitive Chomsky tasks against their definitions and the docstring's examples."""

from rnnzoo.tasks import IGNORE, build
from rnnzoo.tasks.chomsky.cs import little_endian


def _pairs(task, n=200, length=25, seed=0):
    task = task.at_length(length)
    x, y = task.make("test", n, seed)
    sep = (x == task.separator).long().argmax(1)[0]
    return x[:, :sep].tolist(), [row[row != IGNORE].tolist() for row in y]


def test_duplicate_odds_first_and_bucket_sort():
    xs, ys = _pairs(build("chomsky_duplicate_string"))
    assert all(y == x + x for x, y in zip(xs, ys))
    xs, ys = _pairs(build("chomsky_odds_first"))
    # 1-indexed odd positions s_1 s_3 ... first, then s_2 s_4 ...
    assert all(y == [x[i] for i in range(0, len(x), 2)] + [x[i] for i in range(1, len(x), 2)] for x, y in zip(xs, ys))
    x = [0, 0, 1, 1, 0, 1, 0, 1]
    assert x[0::2] + x[1::2] == [0, 1, 0, 0, 0, 1, 1, 1]  # the docstring's example
    xs, ys = _pairs(build("chomsky_bucket_sort"))
    assert all(y == sorted(x) for x, y in zip(xs, ys)) and max(max(x) for x in xs) == 4


def test_binary_addition_sums_little_endian_numbers():
    xs, ys = _pairs(build("chomsky_binary_addition"), length=20)
    for x, y in zip(xs, ys):
        plus = x.index(2)
        a = sum(b << i for i, b in enumerate(x[:plus]))
        b = sum(bit << i for i, bit in enumerate(x[plus + 1:]))
        assert a >= 1 and b >= 1 and 1 <= plus <= 18 and x.count(2) == 1
        total = little_endian(a + b, 0)
        assert y[:len(total) + 1] == total + [2] and set(y[len(total) + 1:]) <= {0} and len(y) == 21
    assert little_endian(4, 3) == [0, 0, 1] and little_endian(22, 5) == [0, 1, 1, 0, 1]  # docstring: 001 + 01101
    assert little_endian(26, 0) == [0, 1, 0, 1, 1]
