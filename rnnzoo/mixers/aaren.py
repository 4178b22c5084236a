"""Aaren (Feng et al. 2024, Attention as an RNN, Sec. 3.3): multi-head attention whose query is a learned token
per layer, so each output o_t = softmax(q . k_{1..t}) v_{1..t} is the state of an RNN with O(1) memory.
k, v are linear maps of the input, scores are scaled by head_dim**-0.5, an output projection follows.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from rnnzoo.mixers.base import Mixer, MixerConfig, State
from rnnzoo.mixers.registry import register
from rnnzoo.ops.aaren import aaren, empty_state
from rnnzoo.validate import at_least


@dataclass
class AarenConfig(MixerConfig):
    num_heads: int = 4
    chunk_size: int = 64

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.num_heads < 1 or self.d_model % self.num_heads:
            raise ValueError(f"d_model={self.d_model} must be divisible by num_heads={self.num_heads}")
        at_least(self, 1, "chunk_size")


@register("aaren")
class Aaren(Mixer):
    """Aaren: prefix softmax attention of a learned query, as a parallel scan (forward) and an RNN (step)."""

    config_class = AarenConfig
    paper = "Feng et al. 2024, Attention as an RNN"
    state_formula = "d_model + 2*num_heads (m, u per head; w)"
    fast_path = "chunked prefix scan over (max, denominator, numerator) (rnnzoo.ops.aaren mode='chunk')"
    fast_mode = "chunk"
    log_space_state = (0,)  # m, the running max of the scores

    def __init__(self, config: AarenConfig):
        super().__init__(config)
        self.num_heads, self.head_dim = config.num_heads, config.d_model // config.num_heads
        self.query = nn.Parameter(torch.randn(self.num_heads, self.head_dim) * self.head_dim ** -0.5)
        self.k_proj = nn.Linear(config.d_model, config.d_model, bias=False)
        self.v_proj = nn.Linear(config.d_model, config.d_model, bias=False)
        self.out_proj = nn.Linear(config.d_model, config.d_model, bias=False)

    def init_state(self, batch_size, device=None, dtype=None) -> State:
        return empty_state(batch_size, self.num_heads, self.head_dim, device, dtype or self._param_dtype())

    def _mix(self, x, state, mode):
        Bt, T, _ = x.shape
        k = self.k_proj(x).view(Bt, T, self.num_heads, self.head_dim)
        v = self.v_proj(x).view(Bt, T, self.num_heads, self.head_dim)
        o, state = aaren(self.query, k, v, initial_state=state, output_final_state=True, mode=mode,
                         chunk_size=self.config.chunk_size)
        return self.out_proj(o.reshape(Bt, T, -1)), state
