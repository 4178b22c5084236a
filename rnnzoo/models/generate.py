"""Decoding: greedy, temperature / top-k / top-p sampling, beam search and diverse beam search.

The strategies drive a ``StepDecoder`` (``start`` / ``step`` / ``reorder``), so one beam search serves the
language model (``LMDecoder``: reads the prompt once with ``forward_with_state``, then one token at a time
through ``model.step``; recurrent mixers carry a fixed-size state, attention its KV cache) and the
sequence-to-sequence and pointer models (``rnnzoo.models.seq2seq.Seq2SeqDecoder``, which masks forbidden
outputs with log-probability -inf).

```python
new = generate(model, prompt, GenerationConfig(strategy="sample", top_p=0.9, max_new_tokens=100))  # [B, 100]
tokens, scores = beam_search(model, prompt[0], max_new_tokens=50, num_beams=4)                  # [4, 50], [4]
tokens, scores = search_beams(LMDecoder(model, prompt[:1]), 50, num_beams=4, num_groups=2, diversity=0.5)
```
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Protocol

import torch
from torch import nn

from rnnzoo.config_args import option
from rnnzoo.train.device import DEVICE_HELP, DTYPE_HELP, DTYPES, check_precision

STRATEGIES = ("greedy", "sample", "beam", "diverse_beam")


@dataclass
class GenerationConfig:
    max_new_tokens: int = option(100, "tokens generated after the prompt")
    strategy: str = option("greedy", "decoding strategy", choices=STRATEGIES)
    temperature: float = option(1.0, "sample: logits are divided by it")
    top_k: int = option(0, "sample: keep the k most likely tokens; 0 keeps all")
    top_p: float = option(1.0, "sample: keep the smallest set with probability >= top_p (nucleus)")
    num_beams: int = option(4, "beam, diverse_beam: hypotheses kept")
    num_groups: int = option(2, "diverse_beam: beams are split into this many groups")
    diversity: float = option(0.5, "diverse_beam: penalty per earlier-group use of a token at the same step "
                                   "(Hamming diversity)")
    seed: int = option(0, "sample: seed of the sampling generator")
    draft_k: int = option(4, "greedy, sample with a draft model: tokens the draft proposes per target pass "
                             "(speculative decoding); with draft_branches > 1 the depth of the draft tree")
    draft_branches: int = option(1, "sample with a draft model: candidates each draft node draws without "
                                    "replacement (Recursive Speculative Decoding's tree, verified in one target "
                                    "pass); 1: one draft chain")
    device: str = option("auto", f"where to load the checkpoint and decode: {DEVICE_HELP}")
    dtype: str = option("float32", DTYPE_HELP, choices=tuple(DTYPES))

    def __post_init__(self) -> None:
        check_precision(self.device, self.dtype)
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES}, got {self.strategy!r}")
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0 (use strategy='greedy' for argmax), got {self.temperature}")
        if self.top_k < 0:
            raise ValueError(f"top_k must be >= 0, got {self.top_k}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if not self.diversity >= 0:  # a negative penalty would reward repeating the other groups' tokens
            raise ValueError(f"diversity must be >= 0, got {self.diversity}")
        if self.draft_k < 1:
            raise ValueError(f"draft_k must be >= 1, got {self.draft_k}")
        if self.draft_branches < 1:
            raise ValueError(f"draft_branches must be >= 1, got {self.draft_branches}")
        _check_beams(self.num_beams, self.num_groups if self.strategy == "diverse_beam" else 1)


def generate(model: nn.Module, prompt: torch.Tensor, config: GenerationConfig,
             draft: nn.Module | None = None) -> torch.Tensor:
    """prompt: [B, T] int64 -> new tokens [B, max_new_tokens]; for beam strategies B must be 1 and the
    result is [num_beams, max_new_tokens], best hypothesis first (diverse_beam: best of each group first).
    With a ``draft`` language model of the same vocabulary, greedy and sample decode speculatively
    (``rnnzoo.models.speculative``): the same output distribution, fewer sequential target passes."""
    c = config
    if draft is not None:
        return _speculative(model, draft, prompt, c)
    if c.strategy == "greedy":
        return greedy(model, prompt, c.max_new_tokens)
    if c.strategy == "sample":
        gen = torch.Generator(device=prompt.device).manual_seed(c.seed)
        return sample(model, prompt, c.max_new_tokens, c.temperature, c.top_k, c.top_p, generator=gen)
    if prompt.dim() != 2 or prompt.shape[0] != 1:
        raise ValueError(f"beam strategies decode one prompt: need shape [1, T], got {tuple(prompt.shape)}")
    groups = c.num_groups if c.strategy == "diverse_beam" else 1
    diversity = c.diversity if c.strategy == "diverse_beam" else 0.0
    return diverse_beam_search(model, prompt[0], c.max_new_tokens, c.num_beams, groups, diversity)[0]


def _speculative(model: nn.Module, draft: nn.Module, prompt: torch.Tensor, c: GenerationConfig) -> torch.Tensor:
    from rnnzoo.models.speculative import speculative_greedy, speculative_sample  # it imports this module

    if c.strategy == "greedy" and c.draft_branches > 1:
        raise ValueError("draft_branches > 1 applies to sampling: a greedy draft has one candidate per node")
    if c.strategy == "greedy":
        return speculative_greedy(model, draft, prompt, c.max_new_tokens, c.draft_k)[0]
    if c.strategy == "sample" and c.draft_branches > 1:
        from rnnzoo.models.speculative_tree import recursive_speculative_sample

        gen = torch.Generator(device=prompt.device).manual_seed(c.seed)
        return recursive_speculative_sample(model, draft, prompt, c.max_new_tokens, c.draft_k, c.draft_branches,
                                            c.temperature, c.top_k, c.top_p, generator=gen)[0]
    if c.strategy == "sample":
        gen = torch.Generator(device=prompt.device).manual_seed(c.seed)
        return speculative_sample(model, draft, prompt, c.max_new_tokens, c.draft_k, c.temperature, c.top_k,
                                  c.top_p, generator=gen)[0]
    raise ValueError(f"a draft model speeds up greedy and sample decoding, not strategy {c.strategy!r}")


class StepDecoder(Protocol):
    """What every strategy drives: anything that scores the next token given the tokens chosen so far.

    ``start()`` reads the conditioning input (an LM prompt, a seq2seq source) and returns the log-probabilities
    of the first new token ``[B, V]`` and a state; ``step(tokens [B], state)`` feeds the chosen tokens and
    returns the next ``[B, V]`` log-probabilities and state; ``reorder(state, index [N])`` selects batch rows
    ``index`` of the state (beam search copies surviving beams with it). A decoder forbids a token by giving
    it log-probability ``-inf`` (pointer networks mask already-chosen positions, finished hypotheses allow
    only the end token); no strategy needs to know why.
    """

    def start(self) -> tuple[torch.Tensor, Any]: ...

    def step(self, tokens: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]: ...

    def reorder(self, state: Any, index: torch.Tensor) -> Any: ...


class LMDecoder:
    """``StepDecoder`` for a ``LanguageModel`` continuing ``prompt`` [B, T]."""

    def __init__(self, model: nn.Module, prompt: torch.Tensor):
        if prompt.dim() != 2:
            raise ValueError(f"prompt must be [B, T] token ids, got shape {tuple(prompt.shape)}")
        self.model, self.prompt = model, prompt

    def start(self) -> tuple[torch.Tensor, list]:
        self.model.eval()
        logits, state = self.model.forward_with_state(self.prompt, None)
        return log_probs(logits[:, -1]), state

    def step(self, tokens: torch.Tensor, state: list) -> tuple[torch.Tensor, list]:
        logits, state = self.model.step(tokens, state)
        return log_probs(logits), state

    def reorder(self, state: list, index: torch.Tensor) -> list:
        """Select batch rows ``index`` of every layer's state (each a tuple of batch-first tensors)."""
        return [tuple(t.index_select(0, index) for t in s) for s in state]


@torch.no_grad()
def greedy(model: nn.Module, prompt: torch.Tensor, max_new_tokens: int) -> torch.Tensor:
    """prompt: [B, T] -> [B, max_new_tokens], the argmax token at every step."""
    return decode(LMDecoder(model, prompt), max_new_tokens, lambda logp: logp.argmax(-1))


@torch.no_grad()
def sample(model: nn.Module, prompt: torch.Tensor, max_new_tokens: int, temperature: float = 1.0,
           top_k: int = 0, top_p: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """prompt: [B, T] -> [B, max_new_tokens] drawn from softmax(logits / temperature), restricted to the
    ``top_k`` most likely tokens and then to the nucleus of mass ``top_p`` (Holtzman et al. 2020)."""

    def pick(logp):
        probs = filter_logits(logp.float() / temperature, top_k, top_p).softmax(-1)
        return torch.multinomial(probs, 1, generator=generator)[:, 0]

    return decode(LMDecoder(model, prompt), max_new_tokens, pick)


def filter_logits(logits: torch.Tensor, top_k: int = 0, top_p: float = 1.0) -> torch.Tensor:
    """logits: [B, V] -> [B, V] with everything outside top-k / the top-p nucleus set to -inf."""
    if top_k and top_k < logits.shape[-1]:
        kth = logits.topk(top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = logits.sort(-1, descending=True)
        probs = sorted_logits.softmax(-1)
        # drop a token once the mass strictly before it already reaches top_p (the first token always stays)
        drop = probs.cumsum(-1) - probs >= top_p
        logits = logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
    return logits


@torch.no_grad()
def beam_search(model: nn.Module, prompt: torch.Tensor, max_new_tokens: int,
                num_beams: int) -> tuple[torch.Tensor, torch.Tensor]:
    """prompt: [T] -> (tokens [num_beams, max_new_tokens], log-probabilities [num_beams]), best first."""
    return diverse_beam_search(model, prompt, max_new_tokens, num_beams, num_groups=1, diversity=0.0)


@torch.no_grad()
def diverse_beam_search(model: nn.Module, prompt: torch.Tensor, max_new_tokens: int, num_beams: int,
                        num_groups: int, diversity: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``search_beams`` for a ``LanguageModel``: prompt [T] -> (tokens [num_beams, max_new_tokens], scores
    [num_beams])."""
    if prompt.dim() != 1:
        raise ValueError(f"beam search decodes one prompt: need shape [T], got {tuple(prompt.shape)}")
    return search_beams(LMDecoder(model, prompt[None]), max_new_tokens, num_beams, num_groups, diversity)


@torch.no_grad()
def search_beams(decoder: StepDecoder, max_new_tokens: int, num_beams: int, num_groups: int = 1,
                 diversity: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Diverse beam search (Vijayakumar et al. 2018, Alg. 1, Hamming diversity) over one input.

    ``decoder.start()`` must describe a batch of one. The beams are split into ``num_groups`` groups of
    ``num_beams // num_groups``. At each step group g extends its beams by ordinary beam search on
    ``log p(token) - diversity * count(token)``, where count is how many beams of groups 0..g-1 chose that
    token at this step. Scores returned are the plain sums of log-probabilities. Returns (tokens
    [num_beams, max_new_tokens], scores [num_beams]), grouped (group 0's beams first), each group best first.
    ``num_groups=1`` is plain beam search. Hypotheses that run out of allowed tokens score ``-inf``.
    """
    _check_beams(num_beams, num_groups)
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    logp, state = decoder.start()
    if logp.dim() != 2 or logp.shape[0] != 1:
        raise ValueError(f"beam search decodes one input: start() must give [1, V] log-probs, got {tuple(logp.shape)}")
    vocab, device = logp.shape[-1], logp.device
    per_group = num_beams // num_groups
    if per_group > vocab:
        raise ValueError(f"beams per group ({per_group}) cannot exceed vocab_size ({vocab})")
    logp = logp.expand(num_beams, -1)
    state = decoder.reorder(state, torch.zeros(num_beams, dtype=torch.long, device=device))
    # every beam of a group starts identical: only the first one may expand at step 0
    scores = torch.full((num_groups, per_group), float("-inf"), device=device)
    scores[:, 0] = 0.0
    scores = scores.flatten()
    tokens = torch.empty(num_beams, 0, dtype=torch.long, device=device)
    for i in range(max_new_tokens):
        logp = logp.float()
        counts = torch.zeros(vocab, device=device)
        parents, chosen, new_scores = [], [], []
        for g in range(num_groups):
            rows = slice(g * per_group, (g + 1) * per_group)
            total = scores[rows, None] + logp[rows]
            best = (total - diversity * counts).flatten().topk(per_group).indices
            beam, tok = best // vocab, best % vocab
            parents.append(beam + g * per_group)
            chosen.append(tok)
            new_scores.append(total[beam, tok])
            counts += torch.bincount(tok, minlength=vocab)
        parent, token, scores = torch.cat(parents), torch.cat(chosen), torch.cat(new_scores)
        tokens = torch.cat((tokens[parent], token[:, None]), 1)
        if i + 1 < max_new_tokens:
            logp, state = decoder.step(token, decoder.reorder(state, parent))
    return tokens, scores


@torch.no_grad()
def decode(decoder: StepDecoder, max_new_tokens: int,
           pick: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """Token-by-token decoding with ``pick(log_probs [B, V]) -> tokens [B]``; returns [B, max_new_tokens].
    ``pick = lambda logp: logp.argmax(-1)`` is greedy decoding."""
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    logp, state = decoder.start()
    out = []
    for i in range(max_new_tokens):
        token = pick(logp)
        out.append(token)
        if i + 1 < max_new_tokens:
            logp, state = decoder.step(token, state)
    return torch.stack(out, 1)


def log_probs(logits: torch.Tensor) -> torch.Tensor:
    """logits [..., V] -> normalised log-probabilities, at least float32 (float64 models keep float64)."""
    return logits.to(torch.promote_types(logits.dtype, torch.float32)).log_softmax(-1)


def _check_beams(num_beams: int, num_groups: int) -> None:
    if num_beams < 1:
        raise ValueError(f"num_beams must be >= 1, got {num_beams}")
    if num_groups < 1 or num_beams % num_groups:
        raise ValueError(f"num_beams={num_beams} must be a positive multiple of num_groups={num_groups}")
