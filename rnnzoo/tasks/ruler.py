"""RULER's synthetic retrieval and tracing tasks (Hsieh et al. 2024, ``NVIDIA/RULER``
``scripts/data/synthetic/{niah,variable_tracking}.py``) as token tasks: needles or assignments hidden at
random positions in filler tokens (one token per word of the original), answers teacher-forced after a QUERY
marker and scored per answer token. Trained at ``seq_len`` and tested at 1x, 2x and 4x it.

``NIAH``: ``num_keys`` distinct keys, each with ``num_values`` needles ``NEEDLE key value`` scattered in random
order; ``num_queries`` of the keys are asked after QUERY, each followed by its values in order of appearance.
RULER's settings are the registered variants: single (1, 1, 1), multikey (4 keys, one queried), multivalue
(1 key, 4 values), multiquery (4 keys, all queried). Tokens: NEEDLE = 0, QUERY = 1, keys 2 ..,
values after the keys, filler after the values. Example (2 keys, keys 2-5, values 6-9; ``.`` = filler):

    inputs : .  0  3  7  .  .  0  5  8  .  1  5
    targets: -  -  -  -  -  -  -  -  -  -  -  8

``VariableTracking``: ``num_chains`` chains ``x0 = value``, ``x1 = x0``, ..., ``x_h = x_(h-1)`` (tokens
``dst ASSIGN src``), each chain's assignments in order, the chains interleaved; QUERY then chain 0's value
asks for every variable that holds it, in chain order. RULER uses 1 chain of 4 hops. Tokens: QUERY = 0,
ASSIGN = 1, variables 2 .., values after them, filler after the values. Example (1 chain of 2 hops,
variables 2-5, values 6-9):

    inputs : .  3  1  7  .  .  5  1  3  .  2  1  5  .  0  7  3  5
    targets: -  -  -  -  -  -  -  -  -  -  -  -  -  -  -  3  5  2
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch

from rnnzoo.tasks.base import IGNORE, Task, check_n, generator


def scatter(filler: list[int], segments: list[list[int]], rng: random.Random) -> list[int]:
    """``segments``, in the given order, inserted at random gaps of ``filler`` (several may share a gap)."""
    slots = set(rng.sample(range(len(filler) + len(segments)), len(segments)))
    out, fill, segs = [], iter(filler), iter(segments)
    for i in range(len(filler) + len(segments)):
        out += next(segs) if i in slots else [next(fill)]
    return out


def _rows(draw, split: str, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """n rows of ``draw(rng) -> (inputs, targets)`` lists, stacked into [n, T] tensors."""
    check_n(n)
    rng = random.Random(generator(split, seed).initial_seed())
    rows = [draw(rng) for _ in range(n)]
    return torch.tensor([r[0] for r in rows]), torch.tensor([r[1] for r in rows])


def _check_lengths(task: Task, need: int) -> None:
    short = min((task.seq_len, *task.test_lens))
    if short < need:
        raise ValueError(f"seq_len and test_lens must be >= {need} (needles, query and answers), got {short}")


@dataclass(frozen=True)
class NIAH(Task):
    paper = "Hsieh et al. 2024, RULER (needle in a haystack)"
    kind = "recall"
    seq_len: int = 128
    num_keys: int = 1  # RULER's num_needle_k
    num_values: int = 1  # RULER's num_needle_v: needles per key
    num_queries: int = 1  # RULER's num_needle_q: keys asked, at most num_keys
    key_vocab: int = 32
    value_vocab: int = 32
    filler_vocab: int = 16
    test_lens: tuple[int, ...] = (128, 256, 512)

    def __post_init__(self) -> None:
        if min(self.num_keys, self.num_values, self.num_queries, self.value_vocab, self.filler_vocab) < 1:
            raise ValueError("num_keys, num_values, num_queries, value_vocab and filler_vocab must be >= 1")
        if not self.num_queries <= self.num_keys <= self.key_vocab:
            raise ValueError(f"need num_queries <= num_keys <= key_vocab, got {self.num_queries}, {self.num_keys}, "
                             f"{self.key_vocab}")
        _check_lengths(self, 3 * self.num_keys * self.num_values + 1 + self.num_queries * self.num_values)

    @property
    def vocab_size(self) -> int:
        return 2 + self.key_vocab + self.value_vocab + self.filler_vocab

    def test_lengths(self) -> tuple[int, ...]:
        return self.test_lens

    def make(self, split: str, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        return _rows(self.draw, split, n, seed)

    def draw(self, rng: random.Random) -> tuple[list[int], list[int]]:
        value0, filler0 = 2 + self.key_vocab, 2 + self.key_vocab + self.value_vocab
        keys = [2 + k for k in rng.sample(range(self.key_vocab), self.num_keys)]
        values = {k: [value0 + rng.randrange(self.value_vocab) for _ in range(self.num_values)] for k in keys}
        needles = [(k, j) for k in keys for j in range(self.num_values)]
        rng.shuffle(needles)
        query_len = 1 + self.num_queries * self.num_values
        filler = [filler0 + rng.randrange(self.filler_vocab) for _ in range(self.seq_len - query_len - 3 * len(needles))]
        inputs = scatter(filler, [[0, k, values[k][j]] for k, j in needles], rng)
        appearance = {k: [values[k][j] for k2, j in needles if k2 == k] for k in keys}
        targets, answers = [IGNORE] * len(inputs) + [IGNORE], []
        inputs.append(1)
        for k in rng.sample(keys, self.num_queries):
            inputs += [k] + appearance[k][:-1]
            answers += appearance[k]
        return inputs, targets + answers


@dataclass(frozen=True)
class NIAHMultiKey(NIAH):
    num_keys: int = 4


@dataclass(frozen=True)
class NIAHMultiValue(NIAH):
    num_values: int = 4


@dataclass(frozen=True)
class NIAHMultiQuery(NIAH):
    num_keys: int = 4
    num_queries: int = 4


@dataclass(frozen=True)
class VariableTracking(Task):
    paper = "Hsieh et al. 2024, RULER (variable tracking)"
    kind = "recall"
    seq_len: int = 128
    num_chains: int = 1
    num_hops: int = 4
    var_vocab: int = 32
    value_vocab: int = 16
    filler_vocab: int = 16
    test_lens: tuple[int, ...] = (128, 256, 512)

    def __post_init__(self) -> None:
        if min(self.num_chains, self.num_hops, self.filler_vocab) < 1:
            raise ValueError("num_chains, num_hops and filler_vocab must be >= 1")
        if self.num_chains * (self.num_hops + 1) > self.var_vocab or self.num_chains > self.value_vocab:
            raise ValueError(f"need num_chains * (num_hops + 1) <= var_vocab and num_chains <= value_vocab, got "
                             f"{self.num_chains}, {self.num_hops}, {self.var_vocab}, {self.value_vocab}")
        _check_lengths(self, 3 * self.num_chains * (self.num_hops + 1) + 2 + self.num_hops)

    @property
    def vocab_size(self) -> int:
        return 2 + self.var_vocab + self.value_vocab + self.filler_vocab

    def test_lengths(self) -> tuple[int, ...]:
        return self.test_lens

    def make(self, split: str, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        return _rows(self.draw, split, n, seed)

    def draw(self, rng: random.Random) -> tuple[list[int], list[int]]:
        value0, filler0 = 2 + self.var_vocab, 2 + self.var_vocab + self.value_vocab
        hops = self.num_hops + 1
        names = [2 + v for v in rng.sample(range(self.var_vocab), self.num_chains * hops)]
        chains = [names[c * hops:(c + 1) * hops] for c in range(self.num_chains)]
        values = [value0 + v for v in rng.sample(range(self.value_vocab), self.num_chains)]
        steps = [[[chain[0], 1, value]] + [[chain[j], 1, chain[j - 1]] for j in range(1, hops)]
                 for chain, value in zip(chains, values)]
        order = [c for c in range(self.num_chains) for _ in range(hops)]
        rng.shuffle(order)  # a random interleaving that keeps each chain in order
        segments = [steps[c].pop(0) for c in order]
        query = [0, values[0]] + chains[0][:-1]
        filler = [filler0 + rng.randrange(self.filler_vocab) for _ in range(self.seq_len - len(query) - 3 * len(segments))]
        inputs = scatter(filler, segments, rng) + query
        return inputs, [IGNORE] * (len(inputs) - hops) + chains[0]


RULER_TASKS: dict[str, type[Task]] = {
    "ruler_niah": NIAH,
    "ruler_niah_multikey": NIAHMultiKey,
    "ruler_niah_multivalue": NIAHMultiValue,
    "ruler_niah_multiquery": NIAHMultiQuery,
    "ruler_vt": VariableTracking,
}
