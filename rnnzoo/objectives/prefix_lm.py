"""Prefix language model over any causal mixer: the first ``prefix_len[b]`` positions of row b are read in
both directions, the rest causally (generation after a bidirectional prompt, as Birdie trains it).

Each block adds to its causal mixer output, at prefix positions only, the same mixer run over the row's
prefix reversed (``reverse_padded``; same weights, so any causal mixer qualifies and no parameter is added):

    y[t] = mixer(h)[t] + (t < P ? flip_P(mixer(flip_P(h)))[t] : 0),     flip_P reverses positions 0 .. P-1

The reversed pass over position t < P sees only positions t .. P-1 of the prefix (its causal input after the
flip is the reversed prefix), so nothing after the prefix reaches a prefix position, and every target from
position P - 1 on (the answer) is predicted without seeing itself. With ``prefix_len`` None (or all 0) this is
exactly ``LanguageModel``.

Birdie (Blouir et al. 2024) gives the prefix bidirectionality by dedicating part of each layer's state to a
reversed scan of the prefix with its own parameters; sharing the weights is our simplification.
"""

from __future__ import annotations

import torch

from rnnzoo.models.block import reverse_padded
from rnnzoo.models.lm import LanguageModel


class PrefixLM(LanguageModel):
    def forward(self, tokens: torch.Tensor, prefix_len: torch.Tensor | None = None) -> torch.Tensor:
        """tokens [B, T] int64, prefix_len [B] int64 in [0, T] (None: causal) -> logits [B, T, vocab_size]."""
        if prefix_len is None:
            return super().forward(tokens)
        self._check_tokens(tokens, rank=2)
        if prefix_len.shape != tokens.shape[:1] or int(prefix_len.min()) < 0 or int(prefix_len.max()) > tokens.shape[1]:
            raise ValueError(f"prefix_len must be [B] = [{tokens.shape[0]}] with values in [0, {tokens.shape[1]}], "
                             f"got shape {tuple(prefix_len.shape)}")
        in_prefix = (torch.arange(tokens.shape[1], device=tokens.device) < prefix_len[:, None])[..., None]
        x = self.embed(tokens)
        for block in self.blocks:
            h = block.norm1(x)
            forward, _ = block.mixer(h)
            backward, _ = block.mixer(reverse_padded(h, prefix_len))
            y = forward + torch.where(in_prefix, reverse_padded(backward, prefix_len), 0.0)
            x = block._mlp(x + block.dropout(y))  # the rest of Block.forward, unchanged
        return self.head(self.norm(x))
