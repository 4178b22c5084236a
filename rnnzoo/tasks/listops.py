"""ListOps as Long Range Arena generates it (Tay et al. 2021, after Nangia & Bowman 2018): a nested
expression of MIN, MAX, MED (median, rounded down) and SM (sum mod 10) over digits 0-9; the answer is its
value, one of 10 classes, read at a final QUERY token.

Grammar of the LRA generator (``lra_benchmarks/data/listops.py``): a node at depth d (the root is at
depth 1) is a digit with probability 1 - 0.25, and always at ``max_depth``; otherwise it is an operator,
uniform over the four, with uniform 2..``max_args`` arguments, each a node at depth d + 1, closed by ``]``.
Expressions whose token count (digits, operators and ``]``, the parentheses of LRA's text dropped as its
input pipelines do) falls outside the length range are redrawn. LRA uses max_depth = max_args = 10 and
501..1999 tokens; the defaults here keep its tree shape but draw 32..127 tokens (``seq_len`` = 128 with the
QUERY token), short enough to train on a CPU. Rows are left-padded so the answer always sits at T - 1.

Tokens: digits 0-9, [MIN = 10, [MAX = 11, [MED = 12, [SM = 13, ] = 14, PAD = 15, QUERY = 16. Example
(``[MAX 2 [MED 3 9 4 ] 1 ]`` = max(2, med(3, 9, 4), 1) = 4; T = 11, ``-`` = ignored):

    inputs : 15 11  2 12  3  9  4 14  1 14 16
    targets:  -  -  -  -  -  -  -  -  -  -  4
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch

from rnnzoo.tasks.base import IGNORE, Task, check_n, generator

MIN, MAX, MED, SM, END, PAD, QUERY = 10, 11, 12, 13, 14, 15, 16
OPERATORS = (MIN, MAX, MED, SM)
VALUE_P = 0.25  # LRA's probability that a node above max_depth is an operator
MAX_DRAWS = 10_000  # redraws per example before the length range is declared unreachable


def apply(op: int, args: list[int]) -> int:
    """The value of operator ``op`` on digit arguments; MED is int(np.median(args)), the mean of the two
    middle values rounded down when the count is even."""
    if op == MIN:
        return min(args)
    if op == MAX:
        return max(args)
    if op == SM:
        return sum(args) % 10
    s, k = sorted(args), len(args)
    return s[k // 2] if k % 2 else (s[k // 2 - 1] + s[k // 2]) // 2


def evaluate_tokens(tokens: list[int]) -> int:
    """Value of a prefix-notation expression (a stack machine, independent of the generator)."""
    stack: list[list[int]] = [[]]
    for t in tokens:
        if t in OPERATORS:
            stack.append([t])
        elif t == END:
            op, *args = stack.pop()
            stack[-1].append(apply(op, args))
        else:
            stack[-1].append(t)
    (value,) = stack[0]
    return value


def draw_tree(rng: random.Random, depth: int, max_depth: int, max_args: int, budget: int) -> tuple[list[int], int] | None:
    """(prefix tokens, value) of one LRA node, or None as soon as it would exceed ``budget`` tokens (the
    expression is rejected then anyway, so stopping early keeps the accepted distribution)."""
    if depth >= max_depth or rng.random() > VALUE_P:
        digit = rng.randrange(10)
        return [digit], digit
    num_args = rng.randint(2, max_args)
    op = rng.choice(OPERATORS)
    tokens, values = [op], []
    for _ in range(num_args):
        sub = draw_tree(rng, depth + 1, max_depth, max_args, budget - len(tokens) - 1)
        if sub is None:
            return None
        tokens += sub[0]
        values.append(sub[1])
    if len(tokens) + 1 > budget:
        return None
    return tokens + [END], apply(op, values)


def max_tokens(depth: int, max_depth: int, max_args: int) -> int:
    """The longest expression a node at ``depth`` can produce."""
    return 1 if depth >= max_depth else 2 + max_args * max_tokens(depth + 1, max_depth, max_args)


@dataclass(frozen=True)
class ListOps(Task):
    paper = "Tay et al. 2021, Long Range Arena (ListOps generator); Nangia & Bowman 2018"
    kind = "state"
    seq_len: int = 128  # row length: left padding, the expression (at most seq_len - 1 tokens), QUERY
    min_len: int = 32  # shortest expression in tokens (LRA: 501)
    max_depth: int = 10
    max_args: int = 10

    def __post_init__(self) -> None:
        if self.max_depth < 1 or self.max_args < 2:
            raise ValueError(f"need max_depth >= 1 and max_args >= 2, got {self.max_depth}, {self.max_args}")
        longest = min(self.seq_len - 1, max_tokens(1, self.max_depth, self.max_args))
        if not 1 <= self.min_len <= longest:
            raise ValueError(f"min_len must be in [1, {longest}] (seq_len={self.seq_len}, max_depth={self.max_depth}, "
                             f"max_args={self.max_args}), got {self.min_len}")

    @property
    def vocab_size(self) -> int:
        return QUERY + 1

    def draw(self, rng: random.Random) -> tuple[list[int], int]:
        """One expression with min_len <= tokens <= seq_len - 1, and its value."""
        for _ in range(MAX_DRAWS):
            tree = draw_tree(rng, 1, self.max_depth, self.max_args, self.seq_len - 1)
            if tree is not None and len(tree[0]) >= self.min_len:
                return tree
        raise ValueError(f"no expression of {self.min_len}..{self.seq_len - 1} tokens in {MAX_DRAWS} draws; "
                         f"widen the range or raise max_depth/max_args")

    def make(self, split: str, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        check_n(n)
        rng = random.Random(generator(split, seed).initial_seed())
        inputs = torch.full((n, self.seq_len), PAD, dtype=torch.long)
        targets = torch.full((n, self.seq_len), IGNORE, dtype=torch.long)
        for i in range(n):
            tokens, value = self.draw(rng)
            inputs[i, self.seq_len - 1 - len(tokens):] = torch.tensor(tokens + [QUERY])
            targets[i, -1] = value
        return inputs, targets
