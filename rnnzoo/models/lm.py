"""Causal language model: token embedding -> N blocks of any registry mixer (or a hybrid pattern of mixers,
``rnnzoo.models.hybrid``) -> RMSNorm -> tied head.

```python
model = LanguageModel(LMConfig(vocab_size=256, mixer="lstm", n_layers=2, d_model=64))
logits = model(tokens)                                   # tokens: [B, T] int64 -> [B, T, V]
state = model.init_state(batch_size)
logits_t, state = model.step(token_t, state)             # token_t: [B] -> [B, V], O(1) memory for RNNs
```
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from rnnzoo import mixers
from rnnzoo.config_args import option
from rnnzoo.mixers.norms import RMSNorm
from rnnzoo.models.block import Block
from rnnzoo.models.hybrid import is_hybrid, layer_mixers

ModelState = list  # one mixer state per block


@dataclass
class LMConfig:
    vocab_size: int | None = option(None, "token ids in [0, vocab_size); None until an app sets it from its data",
                                    derived=True)
    d_model: int = option(64, "model width")
    n_layers: int = option(2, "blocks")
    mixer: str = option("lstm", "registry mixer, with options as in gla:num_heads=2 (see `rnnzoo list`), or a "
                        "hybrid stack as in hybrid:gla*2+attention (the pattern repeats to fill n_layers)",
                        spec_of="mixer_options")
    mixer_options: dict = option(factory=dict, help="config overrides for the mixer, e.g. {'window': 32}")
    mlp_ratio: float = option(4.0, "MLP hidden width as a multiple of d_model")
    tie_embeddings: bool = option(True, "the output head shares the embedding matrix")

    def __post_init__(self) -> None:
        if self.vocab_size is not None and self.vocab_size < 2:
            raise ValueError(f"vocab_size must be >= 2, got {self.vocab_size}")
        if self.n_layers < 1:
            raise ValueError(f"n_layers must be >= 1, got {self.n_layers}")
        for name, options in self.layer_mixers():  # fail early on bad options
            mixers.make_config(name, self.d_model, **options)

    def layer_mixers(self) -> list[tuple[str, dict]]:
        """(mixer name, options) of each block: ``mixer`` with ``mixer_options`` everywhere, or a hybrid pattern."""
        if not is_hybrid(self.mixer):
            return [(self.mixer, self.mixer_options)] * self.n_layers
        if self.mixer_options:
            raise ValueError(f"mixer_options {self.mixer_options} do not apply to {self.mixer!r}; give each "
                             "element its own, as in hybrid:gla:num_heads=2*2+attention")
        return layer_mixers(self.mixer, self.n_layers)


class LanguageModel(nn.Module):
    def __init__(self, config: LMConfig):
        super().__init__()
        if config.vocab_size is None:
            raise ValueError("LMConfig.vocab_size is None; set it to the number of token ids")
        layers = config.layer_mixers()
        for name, _ in layers:
            if not mixers.get(name).causal:
                raise ValueError(f"a language model needs a causal mixer; {name!r} is not causal")
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.d_model)
        self.blocks = nn.ModuleList(
            Block(mixers.build(name, config.d_model, **options), config.mlp_ratio) for name, options in layers
        )
        self.norm = RMSNorm(config.d_model)
        self.head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        nn.init.normal_(self.embed.weight, std=0.02)
        if config.tie_embeddings:
            self.head.weight = self.embed.weight

    @property
    def state_size(self) -> int | None:
        """Recurrent floats per sequence over all layers (None if any layer grows with T)."""
        sizes = [b.mixer.state_size for b in self.blocks]
        return None if any(s is None for s in sizes) else sum(sizes)

    def init_state(self, batch_size: int, device=None, dtype=None) -> ModelState:
        return [b.mixer.init_state(batch_size, device=device, dtype=dtype) for b in self.blocks]

    def forward(self, tokens: torch.Tensor, cu_seqlens: torch.Tensor | None = None) -> torch.Tensor:
        """tokens: [B, T] int64 -> logits [B, T, vocab_size]. ``cu_seqlens`` [N+1]: tokens [1, T] packs N
        documents at these offsets, each computed as if alone (no token attends across a boundary)."""
        return self.forward_with_state(tokens, None, cu_seqlens)[0]

    def forward_with_state(self, tokens: torch.Tensor, state: ModelState | None,
                           cu_seqlens: torch.Tensor | None = None) -> tuple[torch.Tensor, ModelState]:
        """tokens: [B, T]; state from init_state or a previous call -> (logits [B, T, V], state)."""
        self._check_tokens(tokens, rank=2)
        if cu_seqlens is None:
            return self._through_blocks(tokens, state, Block.__call__)  # __call__: module hooks run
        return self._through_blocks(tokens, state, lambda b, x, s: b(x, s, cu_seqlens=cu_seqlens))

    def step(self, token: torch.Tensor, state: ModelState | None) -> tuple[torch.Tensor, ModelState]:
        """token: [B] int64 -> (logits [B, V], state)."""
        self._check_tokens(token, rank=1)
        return self._through_blocks(token, state, Block.step)

    def _through_blocks(self, tokens: torch.Tensor, state: ModelState | None, call) -> tuple[torch.Tensor, ModelState]:
        """Embed, run ``call(block, x, state)`` through every block (a full sequence or one step), norm, head."""
        state = state if state is not None else [None] * len(self.blocks)
        x = self.embed(tokens)
        new_state = []
        for block, s in zip(self.blocks, state):
            x, s = call(block, x, s)
            new_state.append(s)
        return self.head(self.norm(x)), new_state

    def _check_tokens(self, tokens: torch.Tensor, rank: int) -> None:
        if tokens.dim() != rank:
            raise ValueError(f"tokens must have rank {rank}, got shape {tuple(tokens.shape)}")
        if tokens.dtype not in (torch.int64, torch.int32):
            raise ValueError(f"tokens must be int64, got {tokens.dtype}")
        if tokens.numel() == 0:
            raise ValueError(f"tokens is empty: shape {tuple(tokens.shape)}")
        lo, hi = int(tokens.min()), int(tokens.max())
        if lo < 0 or hi >= self.config.vocab_size:
            raise ValueError(f"token ids must be in [0, {self.config.vocab_size}), got range [{lo}, {hi}]")
