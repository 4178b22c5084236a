"""Classic RNN mixers: ``elman``, ``lstm``, ``gru``.

Parameters use the names, layout and init of ``torch.nn.RNN/LSTM/GRU`` (``weight_ih, weight_hh,
bias_ih, bias_hh``; uniform(-1/sqrt(H), 1/sqrt(H))), so a trained ``torch.nn`` layer copies in and
gives the same numbers. The full-sequence path runs PyTorch's fused kernel; ``step`` runs the
reference equations of ``rnnzoo.ops.rnn`` on one token. With ``d_hidden`` unset the hidden size is
d_model and the mixer output is h itself; otherwise a linear map brings h back to d_model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from rnnzoo.mixers.base import Mixer, MixerConfig, State
from rnnzoo.mixers.registry import register
from rnnzoo.ops import rnn as rnn_ops


@dataclass
class RNNConfig(MixerConfig):
    d_hidden: int | None = None  # None: d_model, and no output projection
    bias: bool = True


@dataclass
class ElmanConfig(RNNConfig):
    nonlinearity: str = "tanh"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {self.nonlinearity!r}")


class _TorchLayoutRNN(Mixer):
    """Shared body of elman/lstm/gru: torch-layout weights, fused forward, reference step."""

    gates: ClassVar[int]
    n_state: ClassVar[int]
    fast_path = "fused ATen kernel (torch.nn.%s)"

    def __init__(self, config: RNNConfig):
        super().__init__(config)
        self.d_hidden = config.d_hidden or config.d_model
        g, h = self.gates, self.d_hidden
        self.weight_ih = nn.Parameter(torch.empty(g * h, config.d_model))
        self.weight_hh = nn.Parameter(torch.empty(g * h, h))
        self.bias_ih = nn.Parameter(torch.empty(g * h)) if config.bias else None
        self.bias_hh = nn.Parameter(torch.empty(g * h)) if config.bias else None
        self.out_proj = nn.Linear(h, config.d_model) if h != config.d_model else nn.Identity()
        bound = 1.0 / math.sqrt(h)
        for p in (self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh):
            if p is not None:
                nn.init.uniform_(p, -bound, bound)

    def _op(self, x, state, mode):
        raise NotImplementedError

    def init_state(self, batch_size, device=None, dtype=None) -> State:
        dtype = dtype or self._param_dtype()
        return tuple(torch.zeros(batch_size, self.d_hidden, device=device, dtype=dtype) for _ in range(self.n_state))

    def _forward(self, x, state):
        y, state = self._op(x, state, "fused")
        return self.out_proj(y), state

    def _step(self, x_t, state):
        y, state = self._op(x_t.unsqueeze(1), state, "recurrent")
        return self.out_proj(y[:, 0]), state

    def load_torch(self, module: nn.RNNBase) -> None:
        """Copy the weights of a single-layer unidirectional ``torch.nn.RNN/LSTM/GRU``."""
        if module.num_layers != 1 or module.bidirectional or module.hidden_size != self.d_hidden:
            raise ValueError("load_torch needs a 1-layer unidirectional module with hidden_size == d_hidden")
        with torch.no_grad():
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                if getattr(self, name) is not None:
                    getattr(self, name).copy_(getattr(module, f"{name}_l0"))


@register("elman")
class Elman(_TorchLayoutRNN):
    """Elman RNN (Elman, Finding Structure in Time, 1990): h_t = tanh(W_ih x_t + W_hh h_{t-1} + b)."""

    config_class = ElmanConfig
    paper = "Elman 1990, Finding Structure in Time"
    state_formula = "d_hidden"
    fast_path = _TorchLayoutRNN.fast_path % "RNN"
    gates, n_state = 1, 1

    def _op(self, x, state, mode):
        return rnn_ops.elman(x, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh, state, True,
                             nonlinearity=self.config.nonlinearity, mode=mode)


@register("lstm")
class LSTM(_TorchLayoutRNN):
    """LSTM (Hochreiter & Schmidhuber 1997; forget gate Gers et al. 2000), torch gate order (i, f, g, o)."""

    config_class = RNNConfig
    paper = "Hochreiter & Schmidhuber 1997, Long Short-Term Memory"
    state_formula = "2 * d_hidden (h, c)"
    fast_path = _TorchLayoutRNN.fast_path % "LSTM"
    gates, n_state = 4, 2

    def _op(self, x, state, mode):
        return rnn_ops.lstm(x, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh, state, True, mode=mode)


@register("gru")
class GRU(_TorchLayoutRNN):
    """GRU (Cho et al. 2014), torch gate order (r, z, n)."""

    config_class = RNNConfig
    paper = "Cho et al. 2014, Learning Phrase Representations using RNN Encoder-Decoder"
    state_formula = "d_hidden"
    fast_path = _TorchLayoutRNN.fast_path % "GRU"
    gates, n_state = 3, 1

    def _op(self, x, state, mode):
        return rnn_ops.gru(x, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh, state, True, mode=mode)
