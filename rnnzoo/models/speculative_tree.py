"""Recursive Speculative Decoding (Jeon et al. 2024, *Recursive Speculative Decoding: Accelerating LLM Inference
via Sampling Without Replacement*, RSD-C: a draft tree of constant branching).

Each round the draft grows a tree of ``depth`` levels: every node draws ``branches`` distinct children from the
draft's distribution ``q`` **without replacement** (Gumbel-top-k), the draft stepping all nodes of a level in
one batched ``step``. The target reads every root-to-leaf path (pending token + ``depth`` proposals) as one
batch in **one** ``forward_with_state`` call, which gives its distribution ``p`` at every node. Verification
walks down the tree by recursive rejection sampling: at a node, candidate ``x_j`` (in the order drawn) is kept
with probability ``min(1, p(x_j) / q(x_j))``; after a rejection ``p`` becomes ``norm(max(0, p - q))`` and ``q``
the draft distribution without the candidates already drawn (``q`` with ``x_j`` removed, renormalised: the law
of the next candidate of a draw without replacement), and the next candidate is tried. A kept candidate moves
the walk to its node; when every candidate is rejected a token is drawn from the last ``p`` and the round ends;
at a leaf a bonus token is drawn from the leaf's ``p``. Each token emitted is then distributed exactly as the
target's (filtered) sampling distribution, whatever the draft (the paper's Theorem; tested with a chi-square
test on a small vocabulary).

States as in ``speculative``: the draft keeps its state after every node; the target's state after a fully
accepted path is that path's row of the batched call, else the accepted prefix is re-run from the state before
the round.

```python
tokens, stats = recursive_speculative_sample(target, draft, prompt, 200, depth=3, branches=2, temperature=0.8)
stats.acceptance_rate     # accepted tokens / tree depth, over rounds
```
"""

from __future__ import annotations

import torch
from torch import nn

from rnnzoo.models.generate import filter_logits
from rnnzoo.models.speculative import SpeculativeStats, _copy, _read


@torch.no_grad()
def recursive_speculative_sample(target: nn.Module, draft: nn.Module, prompt: torch.Tensor, max_new_tokens: int,
                                 depth: int, branches: int, temperature: float = 1.0, top_k: int = 0,
                                 top_p: float = 1.0, generator: torch.Generator | None = None
                                 ) -> tuple[torch.Tensor, SpeculativeStats]:
    """prompt: [B, T] -> (tokens [B, max_new_tokens] distributed as ``sample(target, ...)`` with the same
    temperature / top-k / top-p, stats: ``drafted`` counts tree levels per round, ``accepted`` the levels kept).
    A round drafts ``branches ** 1 + ... + branches ** depth`` tokens and makes one target call over
    ``branches ** depth`` paths (plus a re-run of the accepted prefix when the walk stops above a leaf)."""
    if prompt.dim() != 2 or prompt.shape[1] == 0:
        raise ValueError(f"prompt must be [B, T] token ids with T >= 1, got shape {tuple(prompt.shape)}")
    if max_new_tokens < 1 or depth < 1 or branches < 1:
        raise ValueError(f"max_new_tokens, depth and branches must be >= 1, got {max_new_tokens}, {depth}, "
                         f"{branches}")
    if target.config.vocab_size != draft.config.vocab_size:
        raise ValueError(f"draft vocab_size {draft.config.vocab_size} differs from the target's "
                         f"{target.config.vocab_size}; both must read the same token ids")
    target.eval()
    draft.eval()

    def probs(logits: torch.Tensor) -> torch.Tensor:
        return filter_logits(logits.double() / temperature, top_k, top_p).softmax(-1)

    stats = SpeculativeStats()
    rows = [_decode_row(target, draft, row, max_new_tokens, depth, branches, probs, generator, stats)
            for row in prompt]
    return torch.stack(rows), stats


def draw_without_replacement(q: torch.Tensor, k: int, generator: torch.Generator | None) -> torch.Tensor:
    """q: [N, V] distributions -> [N, k] distinct tokens per row in the order a draw without replacement makes
    them (Gumbel-top-k); where a row has fewer than k tokens of nonzero probability the rest are zero-probability
    tokens, which verification never keeps."""
    u = torch.rand(q.shape, generator=generator, dtype=torch.float64, device=q.device)
    gumbel = -torch.log(-torch.log(u.clamp(min=1e-300)))
    return (q.log() + gumbel).topk(k, dim=-1).indices


def _expand(state: list, times: int) -> list:
    """Every row of a batch-first model state repeated ``times`` times in place (row i -> rows i*times ...)."""
    return [tuple(t.repeat_interleave(times, dim=0) for t in s) for s in state]


def _row(state: list, i: int) -> list:
    return [tuple(t[i:i + 1].clone() for t in s) for s in state]


def _walk(p_paths, q, tokens, b, L, generator) -> tuple[int, int, torch.Tensor]:
    """Verification from the root down -> (node index at the level reached, levels kept, the token drawn there)."""
    node, kept = 0, 0
    while True:
        p = p_paths[node * b ** (L - kept), kept]  # the first path through the node
        if kept == L:
            return node, kept, torch.multinomial(p, 1, generator=generator)  # bonus token after a leaf
        j, token = recursive_rejection(p, q[kept][node], tokens[kept + 1][node * b: (node + 1) * b], generator)
        if j is None:
            return node, kept, token
        node, kept = node * b + j, kept + 1


def recursive_rejection(p: torch.Tensor, q: torch.Tensor, candidates: torch.Tensor,
                        generator: torch.Generator | None) -> tuple[int | None, torch.Tensor | None]:
    """p, q: [V] target and draft distributions at a node, candidates: [b] tokens drawn from q without replacement
    -> (index of the candidate kept, None), or (None, token [1] drawn from the residual when all are rejected)."""
    for j, x in enumerate(candidates.tolist()):
        if q[x] <= 0:  # the draw ran out of tokens the draft can propose
            break
        u = torch.rand((), generator=generator, dtype=torch.float64, device=p.device)
        if u < p[x] / q[x]:
            return j, None
        residual = (p - q).clamp(min=0)
        p = residual / residual.sum() if residual.sum() > 0 else p  # p == q up to rounding: nothing to correct
        q = q.clone()
        q[x] = 0  # the next candidate's law: q without the tokens already drawn
        if q.sum() <= 0:
            break
        q = q / q.sum()
    return None, torch.multinomial(p, 1, generator=generator)


def _decode_row(target, draft, prompt, n, depth, b, probs, generator, stats) -> torch.Tensor:
    """prompt [T] -> [n]. ``pending`` is the last chosen token, which neither model has read yet."""
    t_state, d_state = _read(target, prompt[:-1]), _read(draft, prompt[:-1])
    pending, out, emitted = prompt[-1:], [], 0
    while emitted < n:
        L = min(depth, n - emitted - 1)  # a round emits up to L + 1 tokens
        logits, d_state = draft.step(pending, d_state)
        # level m (0 = the pending token) has b**m nodes; node i of level m has children b*i ... b*i + b - 1
        q, tokens, d_states = [probs(logits)], [pending], [_copy(d_state)]
        for _ in range(L):
            children = draw_without_replacement(q[-1], b, generator).flatten()  # [b**(m+1)]
            logits, d_state = draft.step(children, _expand(d_state, b))
            q.append(probs(logits))
            tokens.append(children)
            d_states.append(_copy(d_state))
        paths = torch.stack([tokens[m].repeat_interleave(b ** (L - m)) for m in range(L + 1)], 1)  # [b**L, L+1]
        before = _copy(t_state)
        logits, after = target.forward_with_state(paths, _expand(t_state, len(paths)))
        p_paths = probs(logits)  # [b**L, L + 1, V]
        stats.target_calls += 1
        node, kept, chosen = _walk(p_paths, q, tokens, b, L, generator)
        stats.drafted, stats.accepted = stats.drafted + L, stats.accepted + kept
        accepted = torch.stack([tokens[m][node // b ** (kept - m)] for m in range(1, kept + 1)] + [pending[0]])[:-1]
        if kept == L:
            t_state = _row(after, node)
        else:
            seq = torch.cat([pending, accepted])[None]
            _, t_state = target.forward_with_state(seq, before)
            stats.target_calls += 1
        d_state = _row(d_states[kept], node)
        pending = chosen
        out += [accepted, pending]
        emitted += kept + 1
    return torch.cat(out)
