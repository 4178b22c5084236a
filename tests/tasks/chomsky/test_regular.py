"""The regular Chomsky tasks against their definitions, with the docstring's worked examples."""


from rnnzoo.tasks import IGNORE, build
from rnnzoo.tasks.chomsky.regular import evaluate_mod5


def _pairs(task, n=500, length=25, seed=0):
    x, y = task.make("test", n, seed) if length is None else task.at_length(length).make("test", n, seed)
    sep = (x == task.separator).long().argmax(1)[0]
    return x[:, :sep].tolist(), y[y != IGNORE].view(n, -1).tolist()


def mod5_by_terms(tokens):
    """An independent evaluator: split on + and - into signed products, sum mod 5."""
    total, sign, product = 0, 1, tokens[0]
    for op, d in zip(tokens[1::2], tokens[2::2]):
        if op == 7:
            product *= d
        else:
            total += sign * product
            sign, product = (1 if op == 5 else -1), d
    return (total + sign * product) % 5


def test_even_pairs_counts_unequal_neighbours():
    xs, ys = _pairs(build("chomsky_even_pairs"))
    assert all(y == [sum(a != b for a, b in zip(x, x[1:])) % 2] for x, y in zip(xs, ys))
    for x, want in (([0, 0, 1, 1, 1, 0], 0), ([0, 1, 0, 1, 0, 0, 1], 1)):  # the docstring's examples
        assert sum(a != b for a, b in zip(x, x[1:])) % 2 == want == int(x[0] != x[-1])
    assert 0.4 < sum(y[0] for y in ys) / len(ys) < 0.6


def test_parity_check_and_cycle_navigation():
    xs, ys = _pairs(build("chomsky_parity_check"))
    assert all(y == [sum(x) % 2] for x, y in zip(xs, ys))
    xs, ys = _pairs(build("chomsky_cycle_navigation"))
    assert all(y == [sum(t - 1 for t in x) % 5] for x, y in zip(xs, ys))
    assert sum(t - 1 for t in [2, 0, 1, 0, 0]) % 5 == 3  # the docstring's example
    assert len({y[0] for y in ys}) == 5


def test_modular_arithmetic_uses_precedence_and_odd_lengths():
    task = build("chomsky_modular_arithmetic")
    xs, ys = _pairs(task, length=26)  # even: shortened to 25
    assert all(len(x) == 25 for x in xs)
    assert all(y == [mod5_by_terms(x)] for x, y in zip(xs, ys))
    assert all(all(t < 5 for t in x[0::2]) and all(5 <= t < 8 for t in x[1::2]) for x in xs)
    assert evaluate_mod5([1, 5, 2, 7, 3]) == 2 and evaluate_mod5([1, 6, 1, 6, 1]) == 4  # docstring
    assert evaluate_mod5([0, 7, 1, 5, 4, 7, 3, 6, 2]) == 0  # the reference's third example
