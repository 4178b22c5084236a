"""The deterministic context-free tasks of Delétang et al. 2023 (a stack suffices): reverse string, stack
manipulation, modular arithmetic with brackets, solve equation.

Worked examples (input -> output):

- ``ReverseString``: bits -> the bits reversed. ``1 1 0 1`` -> ``1 0 1 1``.
- ``StackManipulation``: a stack of bits given bottom to top, then actions POP (2), PUSH 0 (3), PUSH 1 (4)
  (POP on an empty stack does nothing); output the final stack top to bottom, then the termination token 2,
  then zeros up to length N + 1. ``0 1 1 0 4 2 2`` (stack 0110, PUSH 1, POP, POP) -> ``1 1 0 2 0 0 0 0``.
  Accuracy counts the positions up to the termination token.
- ``ModularArithmeticBrackets``: a random bracketed expression over digits 0-4 and ``+ - *`` (tokens 5, 6, 7),
  ``(`` 8, ``)`` 9, mod 5: ``( 1 - ( - 2 ) )`` -> 3. Generated as the reference does: length 1 a digit,
  2 ``-d``, 3 ``(d)``, 4 ``(-d)``, longer ``(left op right)`` with the left length uniform in [1, N - 4].
- ``SolveEquation``: a bracketed expression over ``+ -`` (no ``*``, so the solution is unique) of length N - 2
  with one digit replaced by ``x`` (token 9), then ``=`` (10) and its value; the answer is the replaced digit.
  ``( x + 3 ) = 1`` -> 3. Tokens: digits 0-4, ``+`` 5, ``-`` 6, ``(`` 7, ``)`` 8, ``x`` 9, ``=`` 10.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch

from rnnzoo.tasks.chomsky.base import ChomskyTask, python_rng, terminated_mask

BRACKET_TOKENS = {"+": 5, "-": 6, "*": 7, "(": 8, ")": 9}
EQUATION_TOKENS = {"+": 5, "-": 6, "(": 7, ")": 8, "x": 9, "=": 10}


@dataclass(frozen=True)
class ReverseString(ChomskyTask):
    level = "dcf"

    def sample(self, length, n, g):
        x = torch.randint(2, (n, length), generator=g)
        return x, x.flip(1)


def run_stack(tokens: list[int]) -> list[int]:
    """Initial stack bits then actions (2 POP, 3 PUSH 0, 4 PUSH 1) -> the final stack, top first."""
    stack = []
    for t in tokens:
        if t < 2:
            stack.append(t)
        elif t == 2:
            stack = stack[:-1]
        else:
            stack.append(t - 3)
    return stack[::-1]


@dataclass(frozen=True)
class StackManipulation(ChomskyTask):
    level = "dcf"
    input_size = 5
    output_size = 3

    def sample(self, length, n, g):
        rng = python_rng(g)
        xs, ys = [], []
        for _ in range(n):
            if length == 1:
                x = [rng.randrange(2)]
            else:
                size = rng.randrange(1, length)  # the initial stack; the rest are actions
                x = [rng.randrange(2) for _ in range(size)] + [rng.randrange(2, 5) for _ in range(length - size)]
            # the reference returns a length-1 input as its own output stack
            out = (x if length == 1 else run_stack(x)) + [2]
            xs.append(x)
            ys.append(out + [0] * (length + 1 - len(out)))
        return torch.tensor(xs), torch.tensor(ys)

    def accuracy_mask(self, y):
        return terminated_mask(y, 2)


def bracket_expression(rng: random.Random, length: int, mult: bool) -> tuple[str, int]:
    """A random bracketed expression of exactly ``length`` characters over digits 0-4, and its value mod 5."""
    if length == 1:
        d = rng.randrange(5)
        return str(d), d
    if length == 2:
        d = rng.randrange(5)
        return f"-{d}", -d % 5
    if length == 3:
        d = rng.randrange(5)
        return f"({d})", d
    if length == 4:
        d = rng.randrange(5)
        return f"(-{d})", -d % 5
    left_len = rng.randrange(1, length - 3)
    left, lv = bracket_expression(rng, left_len, mult)
    right, rv = bracket_expression(rng, length - left_len - 3, mult)
    op = "+-*"[rng.randrange(3 if mult else 2)]
    value = {"+": lv + rv, "-": lv - rv, "*": lv * rv}[op] % 5
    return f"({left}{op}{right})", value


def encode(text: str, table: dict[str, int]) -> list[int]:
    return [int(c) if c.isdigit() else table[c] for c in text]


@dataclass(frozen=True)
class ModularArithmeticBrackets(ChomskyTask):
    """With multiplication, as the paper's experiments (the reference's task builder sets ``mult=True``)."""

    level = "dcf"
    input_size = 12  # digits, + - * ( ), and the reference's unused x and =
    output_size = 5

    def sample(self, length, n, g):
        rng = python_rng(g)
        pairs = [bracket_expression(rng, length, mult=True) for _ in range(n)]
        return (torch.tensor([encode(e, BRACKET_TOKENS) for e, _ in pairs]),
                torch.tensor([[v] for _, v in pairs]))


@dataclass(frozen=True)
class SolveEquation(ChomskyTask):
    level = "dcf"
    input_size = 11
    output_size = 5
    min_length = 3

    def sample(self, length, n, g):
        rng = python_rng(g)
        xs, ys = [], []
        for _ in range(n):
            expr, value = bracket_expression(rng, length - 2, mult=False)
            i = rng.randrange(len(expr))
            while not expr[i].isdigit():  # the next digit, cyclically, as the reference
                i = (i + 1) % len(expr)
            xs.append(encode(f"{expr[:i]}x{expr[i + 1:]}={value}", EQUATION_TOKENS))
            ys.append([int(expr[i])])
        return torch.tensor(xs), torch.tensor(ys)
