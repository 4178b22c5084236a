"""Lexinvariant language model (Huang et al. 2023, "Lexinvariant Language Models"): no fixed embedding table.

For every sequence b a fresh matrix E_b [V, d] is drawn with i.i.d. N(0, 1/d) entries; token v at any
position of sequence b is embedded as E_b[v] (the same vector wherever v recurs in b, another vector in the
next sequence). The blocks are those of ``rnnzoo.models.LanguageModel`` (any causal registry mixer); the head
is tied to the same random matrix, as in the paper: logits[b, t, v] = <RMSNorm(h[b, t]), E_b[v]>, so the
model can only name the next token by its similarity to the embeddings this sequence has shown it. A token
that has not yet occurred in the sequence is therefore indistinguishable from any other unseen one: the model
learns in-context symbol manipulation (copying, recall) and, for text, deciphers the symbols as context grows.

```python
model = LexinvariantLM(LMConfig(vocab_size=64, mixer="gla"))
logits = model(tokens)                               # tokens [B, T] -> [B, T, V]; fresh E_b per call
logits = model(tokens, model.draw(B, generator=g))   # reproducible: embeddings drawn from g
```
"""

from __future__ import annotations

import math

import torch
from torch import nn

from rnnzoo import mixers
from rnnzoo.models.block import Block
from rnnzoo.models.lm import LMConfig


class LexinvariantLM(nn.Module):
    def __init__(self, config: LMConfig):
        super().__init__()
        if config.vocab_size is None:
            raise ValueError("LMConfig.vocab_size is None; set it to the number of token ids")
        if not mixers.get(config.mixer).causal:
            raise ValueError(f"a language model needs a causal mixer; {config.mixer!r} is not causal")
        self.config = config
        self.blocks = nn.ModuleList(
            Block(mixers.build(config.mixer, config.d_model, **config.mixer_options), config.mlp_ratio)
            for _ in range(config.n_layers)
        )
        self.norm = nn.RMSNorm(config.d_model)

    def draw(self, batch_size: int, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
        """Random embeddings E [batch_size, V, d_model], entries N(0, 1/d_model); from ``generator`` (a CPU one)
        when given, else from torch's global RNG."""
        v, d = self.config.vocab_size, self.config.d_model
        e = torch.randn(batch_size, v, d, generator=generator) if generator is not None else \
            torch.randn(batch_size, v, d, device=device)
        return (e / math.sqrt(d)).to(device)

    def forward(self, tokens: torch.Tensor, embeddings: torch.Tensor | None = None) -> torch.Tensor:
        """tokens [B, T] int64, embeddings [B, V, d_model] (default: drawn afresh) -> logits [B, T, V]."""
        if tokens.dim() != 2:
            raise ValueError(f"tokens must be [B, T], got shape {tuple(tokens.shape)}")
        b = tokens.shape[0]
        if embeddings is None:
            embeddings = self.draw(b, device=tokens.device)
        want = (b, self.config.vocab_size, self.config.d_model)
        if tuple(embeddings.shape) != want:
            raise ValueError(f"embeddings must be {list(want)} for tokens {list(tokens.shape)}, "
                             f"got {list(embeddings.shape)}")
        x = embeddings.gather(1, tokens[..., None].expand(-1, -1, embeddings.shape[-1]))
        for block in self.blocks:
            x, _ = block(x)
        return self.norm(x) @ embeddings.transpose(1, 2)  # RMSNorm(h) has norm ~sqrt(d), E_b[v] ~1: logits O(1)
