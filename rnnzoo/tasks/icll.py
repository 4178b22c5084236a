"""In-context language learning (Akyurek et al. 2024, "In-Context Language Learning: Architectures and
Algorithms", RegBench): every example is a fresh random probabilistic finite automaton (a DFA whose
out-edges from each state are equally likely), and the sequence is several strings sampled from it,
separated by SEP. The model must infer the language from the context. Metric (as RegBench): the
fraction of positions where the model's argmax next token is a symbol the automaton allows next.

Per example: n_states ~ U[min_states, max_states], an alphabet of U[min_alphabet, max_alphabet] symbols
out of V - 1, and from every state 1..max_out distinct alphabet symbols, each leading to a uniform
random state. Strings start in state 0 and have U[min_str_len, max_str_len] symbols. Targets are the
sampled next tokens; where the next token is SEP the target is ignored (string length is not part of
the automaton). Example (V=5, SEP=4; ``-`` = -100 ignored):

    inputs : 0 2 1 4 0 1 1 4 2 ...
    targets: 2 1 - 0 1 1 - 2 ...        allowed(t): the automaton's out-symbols after inputs[..t]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from rnnzoo.tasks.base import IGNORE, Task, check_n, generator


@dataclass(frozen=True)
class ICLL(Task):
    paper = "Akyurek et al. 2024, In-Context Language Learning: Architectures and Algorithms (RegBench)"
    kind = "recall"
    seq_len: int = 128
    vocab: int = 16
    min_states: int = 4
    max_states: int = 8
    min_alphabet: int = 4
    max_alphabet: int = 8
    max_out: int = 3
    min_str_len: int = 1
    max_str_len: int = 12

    def __post_init__(self) -> None:
        if not 1 <= self.min_states <= self.max_states:
            raise ValueError(f"need 1 <= min_states <= max_states, got {self.min_states}, {self.max_states}")
        if not 1 <= self.min_alphabet <= self.max_alphabet <= self.vocab - 1:
            raise ValueError(f"need 1 <= min_alphabet <= max_alphabet <= vocab - 1 = {self.vocab - 1}, "
                             f"got {self.min_alphabet}, {self.max_alphabet}")
        if self.max_out < 1 or not 1 <= self.min_str_len <= self.max_str_len:
            raise ValueError("need max_out >= 1 and 1 <= min_str_len <= max_str_len")

    @property
    def vocab_size(self) -> int:
        return self.vocab

    def make(self, split: str, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        inputs, targets, _ = self.make_with_allowed(split, n, seed)
        return inputs, targets

    def make_with_allowed(self, split: str, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """-> (inputs [n, T], targets [n, T], allowed [n, T, V] bool: the symbols the automaton allows
        after inputs[:, :t+1], i.e. the correct answers at position t)."""
        check_n(n)
        g = generator(split, seed)
        sep, n_sym, s_max = self.vocab - 1, self.vocab - 1, self.max_states
        rows = torch.arange(n)
        n_states = torch.randint(self.min_states, self.max_states + 1, (n,), generator=g)
        n_alpha = torch.randint(self.min_alphabet, self.max_alphabet + 1, (n,), generator=g)
        in_alpha = torch.rand(n, n_sym, generator=g).argsort(1).argsort(1) < n_alpha[:, None]  # [n, V-1]
        # out-edges: the top-d alphabet symbols by a random score, d ~ U[1, max_out] per state
        score = torch.rand(n, s_max, n_sym, generator=g).masked_fill(~in_alpha[:, None], -1.0)
        rank = score.argsort(-1, descending=True).argsort(-1)
        degree = torch.randint(1, self.max_out + 1, (n, s_max, 1), generator=g).minimum(n_alpha[:, None, None])
        edge = rank < degree                                                             # [n, S, V-1]
        nxt = (torch.rand(n, s_max, n_sym, generator=g) * n_states[:, None, None]).long()  # [n, S, V-1]

        t_total = self.seq_len + 1
        tokens = torch.empty(n, t_total, dtype=torch.long)
        allowed = torch.zeros(n, t_total, self.vocab, dtype=torch.bool)  # allowed[:, t]: set for tokens[:, t]
        state = torch.zeros(n, dtype=torch.long)
        left = torch.randint(self.min_str_len, self.max_str_len + 1, (n,), generator=g)
        for t in range(t_total):
            out = edge[rows, state]                                                      # [n, V-1]
            sym = torch.multinomial(out.float(), 1, generator=g)[:, 0]
            end = left == 0
            tokens[:, t] = torch.where(end, sep, sym)
            allowed[:, t, :n_sym] = out
            new_len = torch.randint(self.min_str_len, self.max_str_len + 1, (n,), generator=g)
            state = torch.where(end, 0, nxt[rows, state, sym])
            left = torch.where(end, new_len, left - 1)
        inputs, targets = tokens[:, :-1], tokens[:, 1:].clone()
        targets[targets == sep] = IGNORE
        return inputs, targets, allowed[:, 1:]

    @staticmethod
    def allowed_accuracy(logits: torch.Tensor, targets: torch.Tensor, allowed: torch.Tensor) -> float:
        """Fraction of labelled positions whose argmax is in the allowed set."""
        mask = targets != IGNORE
        hit = allowed.gather(-1, logits.argmax(-1, keepdim=True))[..., 0]
        return float((hit & mask).sum() / mask.sum().clamp(min=1))

    @torch.no_grad()
    def evaluate(self, model: Callable[[torch.Tensor], torch.Tensor], n: int, seed: int,
                 batch_size: int = 64) -> dict[int, float]:
        inputs, targets, allowed = self.make_with_allowed("test", n, seed)
        logits = torch.cat([model(inputs[i:i + batch_size]) for i in range(0, n, batch_size)])
        return {self.seq_len: self.allowed_accuracy(logits, targets, allowed)}
