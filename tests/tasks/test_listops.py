"""ListOps with LRA's grammar: values checked by an independent evaluator, lengths in range, seeds fixed."""

import numpy as np
import pytest
import torch

from rnnzoo import tasks
from rnnzoo.tasks import IGNORE, ListOps, listops
from tests.tasks.docstring_example import docstring_example


def expression(row: list[int]) -> list[int]:
    return [t for t in row if t not in (listops.PAD, listops.QUERY)]


def numpy_value(tokens: list[int]) -> int:
    """Recursive descent with numpy's median and sum, as LRA's to_value computes them."""
    def node(i):
        if tokens[i] < 10:
            return tokens[i], i + 1
        op, args, i = tokens[i], [], i + 1
        while tokens[i] != listops.END:
            v, i = node(i)
            args.append(v)
        f = {listops.MIN: min, listops.MAX: max, listops.MED: lambda a: int(np.median(a)),
             listops.SM: lambda a: int(np.sum(a)) % 10}[op]
        return f(args), i + 1
    value, end = node(0)
    assert end == len(tokens)
    return value


def test_docstring_example_is_the_definition():
    inputs, targets = docstring_example(listops)
    assert listops.evaluate_tokens(expression(inputs)) == targets[-1] == numpy_value(expression(inputs))
    assert inputs[0] == listops.PAD and inputs[-1] == listops.QUERY and set(targets[:-1]) == {IGNORE}


def test_answers_match_an_independent_evaluator_and_lengths_are_in_range():
    task = ListOps(seq_len=64, min_len=16, max_depth=6, max_args=5)
    x, y = task.make("train", 300, 0)
    assert (x[:, -1] == listops.QUERY).all() and (y[:, :-1] == IGNORE).all()
    for row, answer in zip(x.tolist(), y[:, -1].tolist()):
        tokens = expression(row)
        assert 16 <= len(tokens) <= 63 and row[: 63 - len(tokens)] == [listops.PAD] * (63 - len(tokens))
        assert numpy_value(tokens) == answer
        depth = np.cumsum([1 if t in listops.OPERATORS else -1 if t == listops.END else 0 for t in tokens])
        assert depth.max() <= 5 and depth[-1] == 0  # operators sit above max_depth only
    assert len(set(y[:, -1].tolist())) == 10


def test_operator_semantics_and_grammar_statistics():
    assert listops.apply(listops.MED, [1, 2, 7, 8]) == 4 and listops.apply(listops.MED, [3, 9, 4]) == 4
    assert listops.apply(listops.SM, [9, 8, 7]) == 4
    x, _ = ListOps(seq_len=256, min_len=2, max_depth=10, max_args=10).make("valid", 200, 1)
    ops = x[(x >= listops.MIN) & (x <= listops.SM)]
    counts = torch.bincount(ops - listops.MIN, minlength=4).float()
    assert (counts / counts.sum() - 0.25).abs().max() < 0.05  # operators uniform
    arg_counts = []
    for row in x.tolist():
        stack = [0]  # arguments seen by each open operator (the bottom one counts the root)
        for t in expression(row):
            if t == listops.END:
                arg_counts.append(stack.pop())
                continue
            stack[-1] += 1
            if t in listops.OPERATORS:
                stack.append(0)
        assert stack == [1]
    assert min(arg_counts) == 2 and max(arg_counts) == 10  # 2..max_args, both ends drawn


def test_determinism_splits_and_errors():
    task = tasks.build("listops", seq_len=48, min_len=8)
    a, b = task.make("test", 16, 3), task.make("test", 16, 3)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], task.make("train", 16, 3)[0])
    with pytest.raises(ValueError, match="min_len must be in"):
        ListOps(seq_len=32, min_len=40)
    with pytest.raises(ValueError, match="max_args >= 2"):
        ListOps(max_args=1)
