"""Speculative decoding with a small draft language model (Leviathan et al. 2023, Fast Inference from
Transformers via Speculative Decoding, Alg. 1; Chen et al. 2023, speculative sampling).

Each round the draft proposes ``draft_k`` tokens one at a time through ``step``; the target scores the
pending token and all proposals in one ``forward_with_state`` call from its state. Proposal ``x_i`` drawn from
the draft's ``q_i`` is kept with probability ``min(1, p_i(x_i) / q_i(x_i))``; the first rejected position is
replaced by a draw from ``norm(max(0, p_i - q_i))``, and when every proposal is kept a bonus token is drawn
from ``p_{k+1}``. The tokens returned are then distributed exactly as the target's (filtered) sampling
distribution. Greedy decoding is the same rule with one-hot ``p`` and ``q`` (argmax tokens): a proposal is
kept iff it is the target's argmax, so the output equals plain greedy decoding.

States are values: the draft keeps a copy of its state after every proposal, so a rejection at position i
resumes from the copy after the accepted prefix; the target re-runs the accepted prefix from its copy of the
state before the round (a recurrent state cannot be truncated like a KV cache).

```python
tokens, stats = speculative_sample(target, draft, prompt, 200, draft_k=4, temperature=0.8)  # [B, 200]
stats.acceptance_rate                                                                         # kept / drafted
```
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from rnnzoo.models.generate import filter_logits


@dataclass
class SpeculativeStats:
    drafted: int = 0  # tokens the draft proposed
    accepted: int = 0  # proposals the target kept
    target_calls: int = 0  # target forward passes, re-runs after a rejection included

    @property
    def acceptance_rate(self) -> float:
        return self.accepted / self.drafted if self.drafted else float("nan")


@torch.no_grad()
def speculative_greedy(target: nn.Module, draft: nn.Module, prompt: torch.Tensor, max_new_tokens: int,
                       draft_k: int) -> tuple[torch.Tensor, SpeculativeStats]:
    """prompt: [B, T] -> (tokens [B, max_new_tokens] equal to ``greedy(target, ...)``, stats)."""

    def one_hot(logits: torch.Tensor) -> torch.Tensor:
        return nn.functional.one_hot(logits.argmax(-1), logits.shape[-1]).to(torch.float64)

    # one-hot draws are certain; a private generator keeps the global random state untouched
    gen = torch.Generator(device=prompt.device).manual_seed(0)
    return speculate(target, draft, prompt, max_new_tokens, draft_k, one_hot, gen)


@torch.no_grad()
def speculative_sample(target: nn.Module, draft: nn.Module, prompt: torch.Tensor, max_new_tokens: int,
                       draft_k: int, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
                       generator: torch.Generator | None = None) -> tuple[torch.Tensor, SpeculativeStats]:
    """prompt: [B, T] -> (tokens [B, max_new_tokens] distributed as ``sample(target, ...)`` with the same
    temperature / top-k / top-p, stats). The draft's proposals use the same filters."""

    def probs(logits: torch.Tensor) -> torch.Tensor:
        return filter_logits(logits.double() / temperature, top_k, top_p).softmax(-1)

    return speculate(target, draft, prompt, max_new_tokens, draft_k, probs, generator)


def speculate(target: nn.Module, draft: nn.Module, prompt: torch.Tensor, max_new_tokens: int, draft_k: int,
              probs: Callable[[torch.Tensor], torch.Tensor],
              generator: torch.Generator | None) -> tuple[torch.Tensor, SpeculativeStats]:
    """The shared loop: ``probs(logits [..., V]) -> [..., V]`` is the distribution both models decode from.
    Rows of the batch are decoded one after another (each accepts a different number of tokens per round)."""
    if prompt.dim() != 2 or prompt.shape[1] == 0:
        raise ValueError(f"prompt must be [B, T] token ids with T >= 1, got shape {tuple(prompt.shape)}")
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    if draft_k < 1:
        raise ValueError(f"draft_k must be >= 1, got {draft_k}")
    if target.config.vocab_size != draft.config.vocab_size:
        raise ValueError(f"draft vocab_size {draft.config.vocab_size} differs from the target's "
                         f"{target.config.vocab_size}; both must read the same token ids")
    target.eval()
    draft.eval()
    stats = SpeculativeStats()
    rows = [_decode_row(target, draft, row, max_new_tokens, draft_k, probs, generator, stats) for row in prompt]
    return torch.stack(rows), stats


def _decode_row(target, draft, prompt, n, k, probs, generator, stats) -> torch.Tensor:
    """prompt [T] -> [n]. ``pending`` is the last chosen token, which neither model has read yet."""
    t_state, d_state = _read(target, prompt[:-1]), _read(draft, prompt[:-1])
    pending, out = prompt[-1:], []
    while len(out) < n:
        kk = min(k, n - len(out) - 1)  # a round emits up to kk + 1 tokens
        logits, d_state = draft.step(pending, d_state)
        d_states, proposals, q = [_copy(d_state)], [], []
        for _ in range(kk):
            q.append(probs(logits[0]))
            proposals.append(torch.multinomial(q[-1], 1, generator=generator))
            logits, d_state = draft.step(proposals[-1], d_state)
            d_states.append(_copy(d_state))
        seq = torch.cat([pending, *proposals])[None]  # [1, kk + 1]
        before = _copy(t_state)
        logits, t_state = target.forward_with_state(seq, t_state)
        p = probs(logits[0])  # [kk + 1, V]: p[i] is the target's distribution of the token after seq[:, :i + 1]
        stats.target_calls += 1
        kept = 0
        for i, x in enumerate(proposals):
            u = torch.rand((), generator=generator, dtype=torch.float64, device=p.device)
            if u >= p[i, x] / q[i][x]:
                break
            kept += 1
        stats.drafted, stats.accepted = stats.drafted + kk, stats.accepted + kept
        if kept < kk:
            residual = (p[kept] - q[kept]).clamp(min=0)
            dist = residual if residual.sum() > 0 else p[kept]  # p == q up to rounding: nothing to correct
            _, t_state = target.forward_with_state(seq[:, : kept + 1], before)
            stats.target_calls += 1
        else:
            dist = p[kk]
        d_state = d_states[kept]
        pending = torch.multinomial(dist, 1, generator=generator)
        out += [*proposals[:kept], pending]
    return torch.cat(out)


def _read(model: nn.Module, tokens: torch.Tensor) -> list:
    """The state after reading ``tokens`` [T] (T may be 0: the zero state)."""
    if len(tokens):
        return model.forward_with_state(tokens[None], None)[1]
    w = next(model.parameters())
    return model.init_state(1, device=w.device, dtype=w.dtype)


def _copy(state: list) -> list:
    """A copy of a model state (one tuple of tensors per layer) that later calls cannot modify."""
    return [tuple(t.clone() for t in s) for s in state]
