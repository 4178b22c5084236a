"""RG-LRU recurrent block of Griffin and Hawk (De et al. 2024, Griffin: Mixing Gated Linear Recurrences with
Local Attention for Efficient Language Models, Sec. 2.4, eqs. 1-4, Fig. 2c):

    y = gelu(W_y x)                                          gate branch
    u = conv1d_4(W_x x)                                      causal conv of width 4, window carried in step
    r_t = sigmoid(W_a u_t + b_a),  i_t = sigmoid(W_i u_t + b_i)   (1), (2): block-diagonal, one block per head
    log a_t = c r_t log sigmoid(Lambda)                      (3): a_t = a^(c r_t), c = 8
    h_t = a_t h_{t-1} + sqrt(1 - a_t^2) (i_t u_t)            (4)
    out = W_out(h * y)

Init: a = sigmoid(Lambda) on the ring a^2 ~ U[0.9^2, 0.999^2], as RecurrentGemma's ``rnn_param_init`` (the
released code that trained Griffin/Hawk; the paper's text puts that range on a^c, which starts every channel
at a >= 0.987 with input scale sqrt(1 - a_t^2) <= 0.11); gate blocks normal with std
1/sqrt(block width), zero biases, as RecurrentGemma's ``BlockDiagonalLinear``; gelu in its tanh form as
RecurrentGemma's; lru_width = d_model as in RecurrentGemma-2B. ``Lambda`` is ``_no_weight_decay``.
The scan is ``diagonal_scan`` (the op minGRU uses) in its chunked form: Griffin trains with a sequential
linear scan, and its inputs i_t u_t are signed, which the log-space form pays for twice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from rnnzoo.mixers.base import Mixer, MixerConfig, State
from rnnzoo.mixers.registry import register
from rnnzoo.mixers.short_conv import ShortConvolution
from rnnzoo.mixers.ssm_init import no_weight_decay
from rnnzoo.ops.scan import diagonal_scan


@dataclass
class RGLRUConfig(MixerConfig):
    lru_width: int | None = None  # None: d_model
    num_heads: int = 4  # blocks of the gate weights (Griffin: the attention heads; RecurrentGemma-2B: 10)
    conv_size: int = 4
    c: float = 8.0
    a_min: float = 0.9  # a = sigmoid(Lambda) is initialised with a^2 uniform in [a_min^2, a_max^2]
    a_max: float = 0.999

    def __post_init__(self) -> None:
        super().__post_init__()
        width = self.lru_width or self.d_model
        if width < 1 or self.num_heads < 1 or width % self.num_heads:
            raise ValueError(f"lru_width={width} must be >= 1 and divisible by num_heads={self.num_heads}")
        if self.conv_size < 1:
            raise ValueError(f"conv_size must be >= 1, got {self.conv_size}")
        if self.c <= 0:
            raise ValueError(f"c must be > 0, got {self.c}")
        if not 0 < self.a_min <= self.a_max < 1:
            raise ValueError(f"need 0 < a_min <= a_max < 1, got {self.a_min}, {self.a_max}")


class BlockDiagonalLinear(nn.Module):
    """x [..., H*w] -> x_h W_h + b_h per head h: weight [H, w, w], bias [H, w] (RecurrentGemma's gate layers)."""

    def __init__(self, width: int, num_heads: int):
        super().__init__()
        self.num_heads, w = num_heads, width // num_heads
        self.weight = nn.Parameter(torch.randn(num_heads, w, w) / math.sqrt(w))
        self.bias = nn.Parameter(torch.zeros(num_heads, w))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xh = x.unflatten(-1, (self.num_heads, -1))
        return (torch.einsum("...hi,hij->...hj", xh, self.weight) + self.bias).flatten(-2)


@register("rglru")
class RGLRU(Mixer):
    """Griffin/Hawk recurrent block: gelu gate branch times conv1d -> RG-LRU; state (conv window, h)."""

    config_class = RGLRUConfig
    paper = "De et al. 2024, Griffin: Mixing Gated Linear Recurrences with Local Attention for Efficient LMs"
    state_formula = "lru_width*conv_size"
    fast_path = "chunked diagonal scan (ops.scan.diagonal_scan mode='chunk')"
    fast_mode = "chunk"
    sequence_parallel = "diagonal"  # rnnzoo.distributed: the state crosses a chunk as T * S + b

    def __init__(self, config: RGLRUConfig):
        super().__init__(config)
        c = config
        self.width = c.lru_width or c.d_model
        self.linear_y = nn.Linear(c.d_model, self.width)
        self.linear_x = nn.Linear(c.d_model, self.width)
        self.conv = ShortConvolution(self.width, c.conv_size, bias=True, activation=None)
        self.gate_a = BlockDiagonalLinear(self.width, c.num_heads)
        self.gate_x = BlockDiagonalLinear(self.width, c.num_heads)
        # a = sigmoid(Lambda) with a^2 uniform in [a_min^2, a_max^2] (uniform on a ring): Lambda = logit(a)
        a = torch.empty(self.width).uniform_(c.a_min ** 2, c.a_max ** 2).sqrt()
        self.Lambda = nn.Parameter(torch.log(a) - torch.log1p(-a))
        no_weight_decay(self.Lambda)
        self.linear_out = nn.Linear(self.width, c.d_model)

    def init_state(self, batch_size, device=None, dtype=None) -> State:
        dtype = dtype or self._param_dtype()
        return (self.conv.init_state(batch_size, device=device, dtype=dtype),
                torch.zeros(batch_size, self.width, device=device, dtype=dtype))

    def _mix(self, x, state, mode):
        conv_state, h0 = state
        y = F.gelu(self.linear_y(x), approximate="tanh")
        u, conv_state = self.conv(self.linear_x(x), conv_state)
        r, i = torch.sigmoid(self.gate_a(u)), torch.sigmoid(self.gate_x(u))
        log_a = self.config.c * r * F.logsigmoid(self.Lambda)
        b = torch.sqrt(-torch.expm1(2 * log_a)) * (i * u)  # sqrt(1 - a_t^2) without cancellation near a_t = 1
        h, h_last = diagonal_scan(b, log_a, h0, output_final_state=True, mode=mode)
        return self.linear_out(h * y), (conv_state, h_last)
