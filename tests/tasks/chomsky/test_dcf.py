"""The deterministic context-free Chomsky tasks against their definitions and the docstring's examples."""

import random

from rnnzoo.tasks import IGNORE, build
from rnnzoo.tasks.chomsky.dcf import bracket_expression, run_stack

CHARS = {5: "+", 6: "-", 7: "*", 8: "(", 9: ")"}
EQ_CHARS = {5: "+", 6: "-", 7: "(", 8: ")", 9: "x", 10: "="}


def _pairs(task, n=200, length=25, seed=0):
    task = task.at_length(length)
    x, y = task.make("test", n, seed)
    sep = (x == task.separator).long().argmax(1)[0]
    return x[:, :sep].tolist(), [row[row != IGNORE].tolist() for row in y]


def test_reverse_string():
    xs, ys = _pairs(build("chomsky_reverse_string"))
    assert all(y == x[::-1] for x, y in zip(xs, ys))


def test_stack_manipulation_pops_pushes_and_terminates():
    xs, ys = _pairs(build("chomsky_stack_manipulation"))
    for x, y in zip(xs, ys):
        stack = []
        for t in x:
            if t in (0, 1):
                stack.append(t)
            elif t == 2 and stack:
                stack.pop()
            elif t in (3, 4):
                stack.append(t - 3)
        assert y == stack[::-1] + [2] + [0] * (len(x) - len(stack)) and len(y) == len(x) + 1
        first_action = next(i for i, t in enumerate(x) if t >= 2)
        assert all(t < 2 for t in x[:first_action]) and all(t >= 2 for t in x[first_action:])
    assert run_stack([0, 1, 1, 0, 4, 2, 2]) == [1, 1, 0] and run_stack([1, 1, 0, 2, 2, 2]) == []  # docstring


def test_modular_arithmetic_brackets_values_and_lengths():
    xs, ys = _pairs(build("chomsky_modular_arithmetic_brackets"), length=31)
    for x, y in zip(xs, ys):
        text = "".join(CHARS.get(t, str(t)) for t in x)
        assert len(x) == 31 and y == [eval(text) % 5]  # Python's precedence and unary minus
    assert any(7 in x for x in xs)  # multiplication occurs (the paper's mult=True)
    rng = random.Random(0)
    for length in range(1, 40):
        text, value = bracket_expression(rng, length, mult=True)
        assert len(text) == length and eval(text) % 5 == value
    assert eval("(1-(-2))") % 5 == 3  # the docstring's example


def test_solve_equation_has_one_solution_and_it_is_the_answer():
    xs, ys = _pairs(build("chomsky_solve_equation"), length=21)
    for x, y in zip(xs, ys):
        text = "".join(EQ_CHARS.get(t, str(t)) for t in x)
        left, right = text.split("=")
        assert text.count("x") == 1 and len(x) == 21 and "*" not in text
        solutions = [d for d in range(5) if eval(left.replace("x", f"({d})")) % 5 == int(right)]
        assert solutions == y
    assert eval("(3+3)") % 5 == 1  # the docstring's ( x + 3 ) = 1 -> 3
