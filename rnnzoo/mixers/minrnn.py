"""minGRU and minLSTM (Feng et al. 2024, Were RNNs All We Needed?, Sec. 3 and Appendix B.3): a GRU and an
LSTM whose gates read only x_t, so the recurrence is the linear scan h_t = a_t h_{t-1} + b_t, trained in
the paper's log space (``diagonal_scan(mode="log")``):

    minGRU:   z_t = sigmoid(k_t);  h_t = (1 - z_t) h_{t-1} + z_t g(h~_t)          k, h~ = Linear(x_t)
    minLSTM:  f_t, i_t = sigmoid(.);  f'_t = f_t / (f_t + i_t),  i'_t = i_t / (f_t + i_t)
              h_t = f'_t h_{t-1} + i'_t g(h~_t)                                      f, i, h~ = Linear(x_t)
    g(x) = x + 0.5 (x >= 0), sigmoid(x) (x < 0)    out = out_proj(h)

Log gates as the paper computes them: log(1 - z) = -softplus(k); log f' = -softplus(d), i' = sigmoid(d)
with d = softplus(-f) - softplus(-i) = log i - log f. Layer as in the minGRU/minLSTM language models
(lucidrains minGRU-pytorch ``minLM``): one bias-free projection to d_inner = int(expand * d_model) per
branch, expand 1.5, and a bias-free output projection only when d_inner != d_model. State: h [B, d_inner].
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from rnnzoo.mixers.base import Mixer, MixerConfig, State
from rnnzoo.mixers.registry import register
from rnnzoo.ops.scan import diagonal_scan


@dataclass
class MinRNNConfig(MixerConfig):
    expand: float = 1.5  # d_inner = int(expand * d_model); output projection when d_inner != d_model

    def __post_init__(self) -> None:
        super().__post_init__()
        if int(self.expand * self.d_model) < 1:
            raise ValueError(f"expand * d_model must be >= 1, got {self.expand} * {self.d_model}")


def g(x: torch.Tensor) -> torch.Tensor:
    """The paper's positive activation of the candidate state (Appendix B.3): x + 0.5 for x >= 0, else sigmoid."""
    return torch.where(x >= 0, x + 0.5, torch.sigmoid(x))


class _MinRNN(Mixer):
    """Shared layer: ``branches`` bias-free projections, a log-decay scan, the output projection."""

    config_class = MinRNNConfig
    paper = "Feng et al. 2024, Were RNNs All We Needed?"
    state_formula = "int(expand*d_model)"
    fast_path = "log-space chunked scan (ops.scan.diagonal_scan mode='log')"
    fast_mode = "log"
    sequence_parallel = "diagonal"  # rnnzoo.distributed: the state crosses a chunk as T * S + b
    branches = 0

    def __init__(self, config: MinRNNConfig):
        super().__init__(config)
        self.d_inner = int(config.expand * config.d_model)
        self.in_proj = nn.Linear(config.d_model, self.branches * self.d_inner, bias=False)
        self.out_proj = (nn.Identity() if self.d_inner == config.d_model
                         else nn.Linear(self.d_inner, config.d_model, bias=False))

    def init_state(self, batch_size, device=None, dtype=None) -> State:
        return (torch.zeros(batch_size, self.d_inner, device=device, dtype=dtype or self._param_dtype()),)

    def _gates(self, proj: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """in_proj(x) [B, T, branches*d_inner] -> (log a_t, b_t), each [B, T, d_inner]."""
        raise NotImplementedError

    def _mix(self, x, state, mode):
        log_a, b = self._gates(self.in_proj(x))
        h, h_last = diagonal_scan(b, log_a, state[0], output_final_state=True, mode=mode)
        return self.out_proj(h), (h_last,)


@register("mingru")
class MinGRU(_MinRNN):
    """minGRU: h_t = (1 - z_t) h_{t-1} + z_t g(h~_t), z and h~ from x_t only."""

    branches = 2

    def _gates(self, proj):
        hidden, k = proj.chunk(2, dim=-1)
        return -F.softplus(k), torch.sigmoid(k) * g(hidden)


@register("minlstm")
class MinLSTM(_MinRNN):
    """minLSTM: h_t = f'_t h_{t-1} + i'_t g(h~_t) with f' + i' = 1 (normalised forget and input gates)."""

    branches = 3

    def _gates(self, proj):
        hidden, f, i = proj.chunk(3, dim=-1)
        d = F.softplus(-f) - F.softplus(-i)  # log i - log f
        return -F.softplus(d), torch.sigmoid(d) * g(hidden)
