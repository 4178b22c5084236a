"""The six synthetic tasks of MAD (Poli et al. 2024, "Mechanistic Design and Scaling of Hybrid Architectures",
athms/mad-lab ``mad/data/instances.py``), generated as the reference generator defines them.

Each task is trained on a fixed set of ``num_train_examples`` instances (batches draw from that pool; MAD's
training-set-size ladder shrinks it) and tested on fresh instances. The recall tasks train as language
models on every next token of the instance and are tested only on the recalled values, as the reference
(``is_training``) does; the others use the same targets for both.

- ``mad_in_context_recall``: key-value pairs (keys from the first half of the vocabulary, values from the
  second; a key keeps its value within a sequence), ``seq_len / 2`` pairs, the last one repeating a key
  already shown. Test targets: the value after every repeated key (MAD's ``multi_query``). Example (V=8;
  keys 0-3, values 4-7; the shift makes the target at a key its value; ``-`` = ignored):

      instance: 1 5 2 6 1 5 3 7 2 6
      inputs : 1 5 2 6 1 5 3 7 2
      targets: - - - - 5 - - - 6

- ``mad_noisy_recall``: the same with noise: each pair is replaced, with probability ``frac_noise``, by two
  tokens from a separate noise vocabulary (ignored in the test targets).
- ``mad_fuzzy_recall``: keys and values are motifs of 1..3 distinct tokens (test keys: 3 tokens); one key-value
  probe is placed at a random point and asked again at the end; sequences are left-padded with a pad token.
- ``mad_selective_copying``: ``num_tokens_to_copy`` tokens with blanks inserted before random ones, a copy token,
  then blanks at which the tokens are to be written in order. Example (V=6: tokens 0-3, blank 4, copy 5):

      inputs : 4 2 4 1 4 4 3 5 4 4 4
      targets: - - - - - - - - 2 1 3

- ``mad_compression``: ``seq_len - 1`` random tokens and a compression token; the model (an encoder-decoder
  whose encoder output at the last token is the only path to the decoder) reconstructs every token.
- ``mad_memorization``: ``seq_len / 2`` pairs ``key insert`` over a fixed key -> value map (the same for every
  instance, train and test); the target at each insert token is the key's value: facts stored in weights.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass
from typing import ClassVar

import torch

from rnnzoo.tasks.base import IGNORE, Task, check_n, generator
from rnnzoo.tasks.chomsky.base import python_rng

PAPER = "Poli et al. 2024, Mechanistic Design and Scaling of Hybrid Architectures (MAD)"
MAP_SEED = 12345  # MAD's fixed seed of the memorization map


@dataclass(frozen=True)
class MADTask(Task):
    """Base: a fixed training pool and a per-instance generator; subclasses implement ``instance``."""

    paper = PAPER
    kind = "recall"
    backbone: ClassVar[str] = "mad_lm"   # "mad_lm" (language model) or "mad_autoencoder" (compression)
    seq_len: int = 128
    vocab: int = 16
    num_train_examples: int = 12_800

    def __post_init__(self) -> None:
        if self.num_train_examples < 1:
            raise ValueError(f"num_train_examples must be >= 1, got {self.num_train_examples}")

    @property
    def vocab_size(self) -> int:
        return self.vocab

    def instance(self, rng: random.Random, training: bool) -> tuple[list[int], list[int]]:
        raise NotImplementedError

    def make(self, split: str, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """train: n draws (with replacement) from the fixed pool of ``num_train_examples`` instances, the pool
        the same for every seed (MAD generates its data set once); valid/test: n fresh instances."""
        check_n(n)
        g = generator(split, seed)
        if split == "train":
            pairs = [_pool_instance(self, int(i)) for i in torch.randint(self.num_train_examples, (n,), generator=g)]
        else:
            rng = python_rng(g)
            pairs = [self.instance(rng, training=False) for _ in range(n)]
        return torch.tensor([x for x, _ in pairs]), torch.tensor([y for _, y in pairs])


@functools.lru_cache(maxsize=200_000)
def _pool_instance(task: MADTask, index: int) -> tuple[list[int], list[int]]:
    return task.instance(random.Random(f"{type(task).__name__}/{index}"), training=True)


def _shifted(tokens: list[int], targets: list[int], training: bool) -> tuple[list[int], list[int]]:
    """MAD's recall output: inputs without the last token; targets the next token (training) or the probes."""
    return tokens[:-1], (tokens[1:] if training else targets[1:])


@dataclass(frozen=True)
class InContextRecall(MADTask):
    noise_vocab_size: int = 0
    frac_noise: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.seq_len % 2 or self.seq_len < 4:
            raise ValueError(f"seq_len must be even and >= 4, got {self.seq_len}")
        if not 0 <= self.frac_noise < 1 or (self.frac_noise > 0 and self.noise_vocab_size < 1):
            raise ValueError(f"need 0 <= frac_noise < 1 and a noise vocabulary when frac_noise > 0, got "
                             f"frac_noise={self.frac_noise}, noise_vocab_size={self.noise_vocab_size}")
        if self.vocab - self.noise_vocab_size < 2:
            raise ValueError(f"vocab={self.vocab} leaves no keys and values beside {self.noise_vocab_size} noise tokens")

    def instance(self, rng, training):
        words = self.vocab - self.noise_vocab_size   # multi-query: no copy prefix token
        keys, values = range(words // 2), range(words // 2, words)
        noise = range(words, words + self.noise_vocab_size)
        pairs = self.seq_len // 2
        keep = rng.randrange(pairs)  # one slot is never noise, so some key is shown
        kv, shown, tokens, targets = {}, {}, [], []
        for i in range(pairs - 1):
            if self.frac_noise > 0 and i != keep and rng.random() < self.frac_noise:
                tokens += [rng.choice(noise), rng.choice(noise)]
                targets += [IGNORE, IGNORE]
                continue
            k = rng.choice(keys)
            v = kv.setdefault(k, rng.choice(values))
            tokens += [k, v]
            targets += [IGNORE, v if k in shown else IGNORE]
            shown[k] = v
        if not shown:  # every slot but the last was noise: show one pair (the reference cannot reach this)
            k = rng.choice(keys)
            shown[k] = rng.choice(values)
            tokens[-2:], targets[-2:] = [k, shown[k]], [IGNORE, IGNORE]
        probe = rng.choice(list(shown))
        tokens += [probe, shown[probe]]
        targets += [IGNORE, shown[probe]]
        return _shifted(tokens, targets, training)


@dataclass(frozen=True)
class NoisyRecall(InContextRecall):
    vocab: int = 32
    noise_vocab_size: int = 16
    frac_noise: float = 0.2


@dataclass(frozen=True)
class FuzzyRecall(MADTask):
    k_motif_size: int = 3
    v_motif_size: int = 3

    def __post_init__(self) -> None:
        super().__post_init__()
        if (self.vocab - 1) // 2 < max(self.k_motif_size, self.v_motif_size) or self.k_motif_size < 1:
            raise ValueError(f"vocab={self.vocab} too small for motifs of {self.k_motif_size}/{self.v_motif_size}")
        if self.seq_len < 4 * (self.k_motif_size + self.v_motif_size):
            raise ValueError(f"seq_len={self.seq_len} too short for motifs of {self.k_motif_size}/{self.v_motif_size}")

    def instance(self, rng, training):
        pad, words = self.vocab - 1, self.vocab - 1
        keys, values = range(words // 2), range(words // 2, words)
        key_sizes = range(1, self.k_motif_size + 1) if training else [self.k_motif_size]
        value_sizes = range(1, self.v_motif_size + 1)
        # a uniform draw among all motifs of a size: the reference's uniform pick among all permutations
        k_probe = tuple(rng.sample(keys, rng.choice(key_sizes)))
        v_probe = tuple(rng.sample(values, rng.choice(value_sizes)))
        probe_len = len(k_probe) + len(v_probe)
        probe_at = rng.randrange(self.seq_len - 2 * probe_len)
        kv, shown, tokens, targets, placed = {}, set(), [], [], False
        while len(tokens) < self.seq_len - probe_len - (self.k_motif_size + self.v_motif_size):
            k_size, v_size = rng.choice(key_sizes), rng.choice(value_sizes)
            if len(tokens) >= probe_at and not placed:
                tokens += [*k_probe, *v_probe]
                targets += [IGNORE] * probe_len
                kv[k_probe], placed = v_probe, True
                shown.add(k_probe)
                continue
            k = tuple(rng.sample(keys, k_size))
            if k == k_probe:
                v, placed = v_probe, True
            else:
                v = kv.setdefault(k, tuple(rng.sample(values, v_size)))
            tokens += [*k, *v]
            targets += [IGNORE] * len(k) + (list(v) if k in shown else [IGNORE] * len(v))
            shown.add(k)
        tokens += [*k_probe, *v_probe]
        targets += [IGNORE] * len(k_probe) + list(v_probe)
        fill = self.seq_len + 1 - len(tokens)
        return _shifted([pad] * fill + tokens, [IGNORE] * fill + targets, training)


@dataclass(frozen=True)
class SelectiveCopying(MADTask):
    seq_len: int = 256
    num_tokens_to_copy: int = 16

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.seq_len <= 2 * self.num_tokens_to_copy + 1 or self.num_tokens_to_copy < 1 or self.vocab < 3:
            raise ValueError(f"need seq_len > 2 * num_tokens_to_copy + 1 and vocab >= 3, got seq_len={self.seq_len}, "
                             f"num_tokens_to_copy={self.num_tokens_to_copy}, vocab={self.vocab}")

    def instance(self, rng, training):
        m, copy, blank = self.num_tokens_to_copy, self.vocab - 1, self.vocab - 2
        data = [rng.randrange(self.vocab - 2) for _ in range(m)]
        # blanks go before randomly chosen data tokens (np.insert at indices in [0, m)), so data ends the span
        before = [0] * m
        for _ in range(self.seq_len - 2 * m - 1):
            before[rng.randrange(m)] += 1
        tokens = [t for b, d in zip(before, data) for t in [blank] * b + [d]] + [copy] + [blank] * m
        return tokens, [IGNORE] * (self.seq_len - m) + data


@dataclass(frozen=True)
class Compression(MADTask):
    backbone = "mad_autoencoder"
    seq_len: int = 32

    def instance(self, rng, training):
        tokens = [rng.randrange(self.vocab - 1) for _ in range(self.seq_len - 1)] + [self.vocab - 1]
        return tokens, list(tokens)


@functools.lru_cache(maxsize=64)
def memorization_map(vocab: int) -> dict[int, int]:
    """MAD's fixed key -> value map for a vocabulary (less its insert token): keys [0, w/2), values [w/2, w),
    each shuffled with one fixed generator and zipped (so w/2 facts)."""
    words = vocab - 1
    rng = random.Random(MAP_SEED)
    keys, values = list(range(words // 2)), list(range(words // 2, words))
    rng.shuffle(keys)
    rng.shuffle(values)
    return dict(zip(keys, values))


@dataclass(frozen=True)
class Memorization(MADTask):
    seq_len: int = 32
    vocab: int = 256
    num_train_examples: int = 256

    def instance(self, rng, training):
        facts = memorization_map(self.vocab)
        keys = rng.choices(list(facts), k=self.seq_len // 2)
        tokens = [t for k in keys for t in (k, self.vocab - 1)]
        return tokens, [t for k in keys for t in (IGNORE, facts[k])]


MAD_TASKS = {
    "mad_in_context_recall": InContextRecall,
    "mad_fuzzy_recall": FuzzyRecall,
    "mad_noisy_recall": NoisyRecall,
    "mad_selective_copying": SelectiveCopying,
    "mad_compression": Compression,
    "mad_memorization": Memorization,
}
