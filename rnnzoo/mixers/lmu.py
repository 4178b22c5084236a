"""The Legendre Memory Unit in its parallel form (Voelker et al. 2019, Legendre Memory Units, eqs. 17-20;
Chilkuri & Eliasmith 2021, Parallelizing Legendre Memory Unit Training, eqs. 18-20, 26; the LMU of
LMUFormer, Liu et al. 2024, which is this layer):

    u_t = relu(W_u x_t)                              d_u input channels (the encoder; no hidden-state feedback)
    m_t = Abar m_{t-1} + Bbar u_t                    fixed Legendre delay system of window theta, order q, ZOH
    y_t = relu(W_h [m_t; x_t])                       m_t flattened over the d_u channels

Defaults: LMUFormer's LMU layer (its speech-commands model: memory size = dim = 256, one input channel u,
theta 128 = its sequence length); order 256 and d_u 1 are also psMNIST's in Voelker et al. 2019 and the
parallel LMU. theta is the window the memory resolves: the papers set it to the sequence length, which a
mixer does not know, so LMUFormer's 128 is kept fixed. W_u, W_h bias-free as in the parallel LMU,
nn.Linear's init. Abar, Bbar are buffers computed in float64 (``ops.lmu``), never trained.

LMUFormer's other parts are not options here: its patch embedding's convolutions are centred (kernel 3,
padding 1, reading the next token) and followed by BatchNorm over the batch, and its channel mixer is the
per-token MLP that rnnzoo's Block already adds, so none of it fits the causal per-token mixer contract as
published.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from rnnzoo.mixers.base import Mixer, MixerConfig, State
from rnnzoo.mixers.registry import register
from rnnzoo.ops.lmu import legendre_state_space, lmu_memory, zoh


@dataclass
class LMUConfig(MixerConfig):
    order: int = 256  # q, the memory dimension per input channel
    theta: float = 128.0  # window length in steps
    d_u: int = 1  # input channels u_t, each with its own memory

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.order < 1 or self.d_u < 1:
            raise ValueError(f"order and d_u must be >= 1, got {self.order}, {self.d_u}")
        if self.theta <= 0:
            raise ValueError(f"theta must be > 0, got {self.theta}")


@register("lmu")
class LMU(Mixer):
    """Parallel LMU: a fixed Legendre memory of relu(W_u x), read out by relu(W_h [m; x]); state m [B, d_u, q]."""

    config_class = LMUConfig
    paper = "Voelker et al. 2019, Legendre Memory Units; Liu et al. 2024, LMUFormer"
    state_formula = "d_u*order"
    fast_path = "FFT convolution with the impulse response Abar^k Bbar (ops.lmu mode='fft')"
    fast_mode = "fft"

    def __init__(self, config: LMUConfig):
        super().__init__(config)
        c = config
        Abar, Bbar = zoh(*legendre_state_space(c.order, c.theta))
        self.register_buffer("Abar", Abar)  # float64 until the module is cast; the op computes in x.dtype
        self.register_buffer("Bbar", Bbar)
        self.W_u = nn.Linear(c.d_model, c.d_u, bias=False)
        self.W_h = nn.Linear(c.d_u * c.order + c.d_model, c.d_model, bias=False)

    def init_state(self, batch_size, device=None, dtype=None) -> State:
        return (torch.zeros(batch_size, self.config.d_u, self.config.order, device=device,
                            dtype=dtype or self._param_dtype()),)

    def _mix(self, x, state, mode):
        u = F.relu(self.W_u(x))
        m, m_last = lmu_memory(u, self.Abar, self.Bbar, state[0], output_final_state=True, mode=mode)
        return F.relu(self.W_h(torch.cat((m.flatten(-2), x), -1))), (m_last.to(state[0].dtype),)
