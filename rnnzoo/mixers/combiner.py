"""Combiner (Ren et al. 2021, Combiner: Full Attention Transformer with Sparse Computation Cost), causal: every
query attends directly to the tokens of its own region and, through the conditional-expectation abstraction, to
summaries of the earlier regions (``rnnzoo.ops.combiner``), so each head keeps full attention support in
O(L sqrt L) (``partition="fixed"``, Combiner-Fixed, the default) or O(L log L) (``"logsparse"``).

Multi-head q, k, v and output projections as in ``attention``; the region summary query ``w`` is one learned
vector per head, initialised to zero (a summary starts as the mean of its region). Rotary positions (as
``attention``) on q and k at absolute positions before the op: direct scores see relative offsets, a summary is a
mix of its region's rotated keys. State: a growing cache (the open region's keys and values, then per head and
closed region a key and value summary and its log-normaliser, and the int64 token count), so ``state_size`` is
None; ``step`` runs the op's token loop.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from rnnzoo.mixers.attention import AttentionConfig
from rnnzoo.mixers.base import Mixer, State
from rnnzoo.mixers.registry import register
from rnnzoo.ops.combiner import PARTITIONS, combiner_attention
from rnnzoo.ops.rotary import apply_rotary


@dataclass
class CombinerConfig(AttentionConfig):
    """``attention``'s heads, rotary and bias options, and the partition into regions."""

    block_size: int = 64  # region size s (the paper's sqrt(L) at L = 4096)
    partition: str = "fixed"  # "fixed" (Combiner-Fixed) or "logsparse" (Combiner-Logsparse)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.block_size < 1:
            raise ValueError(f"block_size must be >= 1, got {self.block_size}")
        if self.partition not in PARTITIONS:
            raise ValueError(f"partition must be one of {PARTITIONS}, got {self.partition!r}")


@register("combiner")
class Combiner(Mixer):
    """Causal Combiner attention: direct attention within the region, summaries of the earlier regions."""

    config_class = CombinerConfig
    paper = "Ren et al. 2021, Combiner: Full Attention Transformer with Sparse Computation Cost"
    state_formula = "grows: < 2 * block_size * d_model + (2 * d_model + num_heads) per closed region"
    fast_path = "blocked masked softmax over region tokens + region summaries (rnnzoo.ops.combiner mode='chunk')"
    fast_mode = "chunk"

    def __init__(self, config: CombinerConfig):
        super().__init__(config)
        self.num_heads, self.head_dim = config.num_heads, config.d_model // config.num_heads
        self.qkv = nn.Linear(config.d_model, 3 * config.d_model, bias=config.bias)
        self.summary_query = nn.Parameter(torch.zeros(self.num_heads, self.head_dim))
        self.out_proj = nn.Linear(config.d_model, config.d_model, bias=config.bias)

    @property
    def state_size(self) -> int | None:
        return None

    def init_state(self, batch_size, device=None, dtype=None) -> State:
        dtype = dtype or self._param_dtype()
        empty = torch.zeros(batch_size, 0, self.num_heads, self.head_dim, device=device, dtype=dtype)
        return (empty, empty.clone(), empty.clone(), empty.clone(), empty.new_zeros(batch_size, 0, self.num_heads),
                torch.zeros(batch_size, dtype=torch.long, device=device))

    def _unpad_state(self, state):
        *cache, pos = state
        n = int(pos[0])  # the open region holds n % s tokens, and n // s regions are closed
        lengths = (n % self.config.block_size,) * 2 + (n // self.config.block_size,) * 3
        return (*(c[:, c.shape[1] - m:] for c, m in zip(cache, lengths)), pos)

    def _mix(self, x, state, mode):
        b, t, _ = x.shape
        *cache, pos = state
        q, k, v = self.qkv(x).view(b, t, 3, self.num_heads, self.head_dim).unbind(2)
        positions = pos[:, None] + torch.arange(t, device=x.device)
        q, k = apply_rotary(q, positions, self.config.rotary_base), apply_rotary(k, positions, self.config.rotary_base)
        o, new = combiner_attention(q, k, v, self.summary_query, self.config.block_size, self.config.partition,
                                    initial_state=tuple(cache), output_final_state=True, mode=mode)
        return self.out_proj(o.reshape(b, t, -1)), (*(n.to(c.dtype) for n, c in zip(new, cache)), pos + t)
