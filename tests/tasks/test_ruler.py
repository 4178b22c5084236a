"""RULER's needle and variable-tracking tasks: targets checked by solvers that read only the token stream."""

import pytest
import torch

from rnnzoo import tasks
from rnnzoo.tasks import IGNORE, ruler
from rnnzoo.tasks.ruler import NIAH, VariableTracking
from tests.tasks.docstring_example import docstring_example


def triples(tokens: list, marker: int) -> list[tuple[int, int]]:
    """(a, b) of every ``a marker b`` / ``marker a b`` pattern, in order (NIAH: marker first)."""
    return [(tokens[i + 1], tokens[i + 2]) for i in range(len(tokens) - 2) if tokens[i] == marker]


def solve_niah(inputs: list, query_at: int, num_values: int) -> list[int]:
    """The values of each asked key, in order of appearance; keys follow QUERY every num_values tokens."""
    needles = triples(inputs[:query_at], 0)
    answers = []
    for key in inputs[query_at + 1::num_values]:
        answers += [v for k, v in needles if k == key]
    return answers


def solve_vt(inputs: list, query_at: int) -> list[int]:
    """Every variable whose chain of assignments ends at the queried value, in order of assignment."""
    assigned = [(inputs[i - 1], inputs[i + 1]) for i in range(1, query_at - 1) if inputs[i] == 1]
    source = dict(assigned)

    def value(var):
        while var in source:
            var = source[var]
        return var

    return [dst for dst, _ in assigned if value(dst) == inputs[query_at + 1]]


def test_docstring_examples_are_the_definition():
    inputs, targets = docstring_example(ruler, 0)
    assert solve_niah(inputs, inputs.index(1), 1) == [t for t in targets if t != IGNORE] == [8]
    inputs, targets = docstring_example(ruler, 1)
    assert solve_vt(inputs, inputs.index(0)) == [t for t in targets if t != IGNORE] == [3, 5, 2]


@pytest.mark.parametrize("name", ["ruler_niah", "ruler_niah_multikey", "ruler_niah_multivalue", "ruler_niah_multiquery"])
def test_niah_targets_match_an_independent_solver(name):
    task = tasks.build(name, seq_len=64)
    x, y = task.make("train", 200, 0)
    assert x.shape == (200, 64)
    answer_len = task.num_queries * task.num_values
    assert (y[:, : 64 - answer_len] == IGNORE).all() and (y[:, 64 - answer_len:] != IGNORE).all()
    for row, target in zip(x.tolist(), y.tolist()):
        query_at = 64 - answer_len - 1
        assert row[query_at] == 1 and row.count(1) == 1 and row.count(0) == task.num_keys * task.num_values
        assert solve_niah(row, query_at, task.num_values) == target[query_at + 1:]


def test_vt_targets_match_an_independent_solver_with_interleaved_chains():
    task = VariableTracking(seq_len=80, num_chains=3, num_hops=4)
    x, y = task.make("valid", 200, 1)
    interleaved = 0
    for row, target in zip(x.tolist(), y.tolist()):
        query_at = 80 - 6
        assert row[query_at] == 0 and target[: query_at + 1] == [IGNORE] * (query_at + 1)
        assert solve_vt(row, query_at) == target[query_at + 1:] and len(set(target[query_at + 1:])) == 5
        firsts = [row[i - 1] for i in range(1, query_at) if row[i] == 1]
        interleaved += firsts[:5] != target[query_at + 1:]
    assert interleaved > 100  # chains interleave rather than follow one another


def test_needles_are_spread_and_queries_uniform():
    task = NIAH(seq_len=128, num_keys=4, num_queries=1)
    x, _ = task.make("train", 2000, 2)
    pos = torch.stack([torch.nonzero(row == 0)[0, 0] for row in x]).float()
    assert 10 < float(pos.mean()) < 40  # the first of 4 needles in ~115 slots: mean near 115/5
    asked = x[:, -1]  # the asked key is the last input; it is the i-th needle with chance 1/4
    rank = [(triples(row.tolist(), 0)[i][0] == a) for row, a in zip(x, asked.tolist()) for i in range(4)]
    share = torch.tensor(rank).reshape(2000, 4).float().mean(0)
    assert (share - 0.25).abs().max() < 0.04


def test_lengths_determinism_and_errors():
    task = tasks.build("ruler_vt", seq_len=40, test_lens=(40, 80))
    assert task.test_lengths() == (40, 80) and task.at_length(80).make("test", 2, 0)[0].shape == (2, 80)
    a, b = task.make("test", 8, 5), task.make("test", 8, 5)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) and not torch.equal(a[0], task.make("train", 8, 5)[0])
    with pytest.raises(ValueError, match="num_queries <= num_keys"):
        NIAH(num_keys=2, num_queries=3)
    with pytest.raises(ValueError, match="seq_len and test_lens must be >= 13"):
        NIAH(seq_len=12, num_values=3)
    with pytest.raises(ValueError, match="num_chains \\* \\(num_hops \\+ 1\\) <= var_vocab"):
        VariableTracking(num_chains=8, num_hops=4)
