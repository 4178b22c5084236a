"""Hyena operator (Poli et al. 2023, Hyena Hierarchy: Towards Larger Convolutional Language Models, Sec. 3 and
Algorithms 1-3), the ``HyenaOperator`` / ``HyenaFilter`` of HazyResearch safari ``hyena.py``, order N:

    x_0, ..., x_{N-1}, v = split(short_conv(in_proj(u)))       N+1 projections, depthwise causal conv (kernel 3)
    for n = N-1, ..., 1:   v = long_conv(v * x_n, h_n) + D_n (v * x_n)   h_n: implicit filter, FFT convolution
    y = out_proj(v * x_0)

Implicit filter (Algorithm 1): ``h_n(t) = window(t) * FFN(PositionalEncoding(t))`` with t = l / (l_max - 1) in [0, 1],
the encoding ``[t, cos(2 pi f l / l_max), -sin(2 pi f l / l_max)]`` over (emb_dim - 1)/2 bands f, an FFN of
``num_inner_mlps`` + 2 linear layers of width ``filter_order`` with ``sin(w x)`` activations (trainable w), and
the window ``exp(-|delta_c| t)`` with decay rates spread linearly per channel between log(target)/fast_decay_pct
and log(target)/slow_decay_pct. Defaults are safari's: order 2, filter_order 64, emb_dim 3, w 1, two inner
layers, short filter 3, fast/slow decay 0.3/1.5, target 1e-2, D ~ N(0, 1); the filter FFN and its frequencies get
lr 1e-3 and no weight decay, the positional encoding lr 1e-5 (safari's ``_optim``), the decay rates are fixed.

State and ``l_max``: the filter is defined on ``l_max`` lags (its positions are normalised by l_max, as in
safari), so each long convolution is a finite (FIR) filter of length l_max and exact ``step`` needs the last
``l_max - 1`` inputs of each of the N-1 long convolutions: a fixed-size window, so ``state_size`` is finite,
and since lags beyond l_max are zero by definition, full == split == step holds at every length (safari, which
only runs whole sequences, truncates inputs longer than l_max instead). A token counter (int64 bookkeeping,
not counted) lets the fast form skip the part of the window no token has filled yet; ``step`` (the recurrent
mode) always reads the whole window, so every token allocates tensors of the same shapes and memory stays flat.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from rnnzoo.mixers.base import Mixer, MixerConfig, State
from rnnzoo.mixers.registry import register
from rnnzoo.mixers.short_conv import ShortConvolution
from rnnzoo.ops.long_conv import long_conv


@dataclass
class HyenaConfig(MixerConfig):
    order: int = 2  # N: N+1 projections, N-1 long convolutions
    l_max: int = 2048  # filter length (lags); the state carries l_max - 1 inputs per long convolution
    filter_order: int = 64  # width of the implicit filter FFN
    emb_dim: int = 3  # positional encoding size: t plus (emb_dim - 1)/2 cos/sin bands; odd, >= 3
    num_inner_mlps: int = 2  # hidden layers of the filter FFN
    sine_freq: float = 1.0  # w: initial frequency of the sin activations
    short_filter_order: int = 3
    fast_decay_pct: float = 0.3
    slow_decay_pct: float = 1.5
    decay_target: float = 1e-2
    filter_lr: float | None = 1e-3  # own lr of the filter FFN; None: the model's
    pos_emb_lr: float | None = 1e-5  # own lr of the positional encoding; None: the model's

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.order < 2:
            raise ValueError(f"order must be >= 2, got {self.order}")
        if min(self.l_max, self.filter_order, self.short_filter_order) < 1 or self.num_inner_mlps < 0:
            raise ValueError(f"l_max, filter_order, short_filter_order must be >= 1 and num_inner_mlps >= 0, got "
                             f"{self.l_max}, {self.filter_order}, {self.short_filter_order}, {self.num_inner_mlps}")
        if self.emb_dim < 3 or self.emb_dim % 2 == 0:
            raise ValueError(f"emb_dim must be odd and >= 3, got {self.emb_dim}")
        if not 0 < self.fast_decay_pct <= self.slow_decay_pct or not 0 < self.decay_target < 1:
            raise ValueError(f"need 0 < fast_decay_pct <= slow_decay_pct and 0 < decay_target < 1, got "
                             f"{self.fast_decay_pct}, {self.slow_decay_pct}, {self.decay_target}")
        for name in ("filter_lr", "pos_emb_lr"):
            if getattr(self, name) is not None and not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0 or None, got {getattr(self, name)}")


class Sin(nn.Module):
    """sin(w x) with a trainable frequency per feature (safari ``Sin``)."""

    def __init__(self, dim: int, w: float):
        super().__init__()
        self.freq = nn.Parameter(torch.full((dim,), float(w)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sin(self.freq * x)


class ImplicitFilter(nn.Module):
    """Hyena's implicit long filters: ``filter(L)`` -> [channels, L] for lags 0..L-1 (L <= l_max)."""

    def __init__(self, channels: int, c: HyenaConfig):
        super().__init__()
        l_max, bands = c.l_max, (c.emb_dim - 1) // 2
        t = torch.linspace(0, 1, l_max)[:, None]  # [l_max, 1]
        w = 2 * math.pi * torch.arange(l_max, dtype=torch.float32)[:, None] / l_max
        f = torch.linspace(1e-4, bands - 1, bands)[None]
        self.z = nn.Parameter(torch.cat((t, torch.cos(f * w), -torch.sin(f * w)), dim=-1))  # [l_max, emb_dim]
        self.register_buffer("t", t, persistent=False)
        act = Sin(c.filter_order, c.sine_freq)  # one activation (and frequency) shared by the layers, as safari's
        layers = [nn.Linear(c.emb_dim, c.filter_order), act]
        for _ in range(c.num_inner_mlps):
            layers += [nn.Linear(c.filter_order, c.filter_order), act]
        layers.append(nn.Linear(c.filter_order, channels, bias=False))
        self.ffn = nn.Sequential(*layers)
        max_decay, min_decay = math.log(c.decay_target) / c.fast_decay_pct, math.log(c.decay_target) / c.slow_decay_pct
        self.register_buffer("deltas", torch.linspace(min_decay, max_decay, channels), persistent=False)
        self.z._no_weight_decay, self.z._lr = True, c.pos_emb_lr
        for p in self.ffn.parameters():
            p._no_weight_decay, p._lr = True, c.filter_lr

    def forward(self, L: int) -> torch.Tensor:
        h = self.ffn(self.z[:L]) * torch.exp(-self.t[:L] * self.deltas.abs())  # [L, channels]
        return h.t()


@register("hyena")
class Hyena(Mixer):
    """Hyena operator: gated long convolutions with implicit filters (FFT) and short depthwise convolutions."""

    config_class = HyenaConfig
    paper = "Poli et al. 2023, Hyena Hierarchy: Towards Larger Convolutional Language Models"
    state_formula = "(order+1)*d_model*(short_filter_order-1) + (order-1)*d_model*(l_max-1)"
    fast_path = "FFT long convolution (rnnzoo.ops.long_conv mode='fft')"
    fast_mode = "fft"

    def __init__(self, config: HyenaConfig):
        super().__init__(config)
        c, d = config, config.d_model
        self.in_proj = nn.Linear(d, (c.order + 1) * d)
        self.short_conv = ShortConvolution((c.order + 1) * d, c.short_filter_order, bias=True, activation=None)
        self.filter = ImplicitFilter((c.order - 1) * d, c)
        self.D = nn.Parameter(torch.randn((c.order - 1) * d))  # safari's filter bias: the long conv's skip term
        self.out_proj = nn.Linear(d, d)
        self._filter_cache: tuple = ((), None)

    def _long_filters(self, L: int) -> torch.Tensor:
        """The filters' first L lags, [(order-1)*d_model, L]. Without autograd (generation) the whole l_max filter is
        computed once per parameter version and sliced: step would otherwise rerun the FFN over up to l_max lags
        for every token, about ten times the convolution's own work."""
        if torch.is_grad_enabled():
            return self.filter(L)
        key = tuple((p.data_ptr(), p._version) for p in self.filter.parameters())
        if self._filter_cache[0] != key:
            self._filter_cache = (key, self.filter(self.config.l_max))
        return self._filter_cache[1][:, :L]

    def init_state(self, batch_size, device=None, dtype=None) -> State:
        c = self.config
        dtype = dtype or self._param_dtype()
        return (self.short_conv.init_state(batch_size, device=device, dtype=dtype),
                torch.zeros(batch_size, c.order - 1, self.d_model, c.l_max - 1, device=device, dtype=dtype),
                torch.zeros(batch_size, dtype=torch.long, device=device))

    def _mix(self, x, state, mode):
        conv_state, windows, pos = state
        c, d, T = self.config, self.d_model, x.shape[1]
        u, conv_state = self.short_conv(self.in_proj(x), conv_state)
        *gates, v = u.split(d, dim=-1)
        # inputs before the first token are zeros: only the last `seen` window entries can be nonzero. The token
        # loop reads the whole window all the same: shapes that grew by one per token made glibc's heap fragment
        # (about 8 MB kept per step at B=8, d_model 256, l_max 2048: 16 GB over the first l_max steps)
        seen = c.l_max - 1 if mode == "recurrent" else min(c.l_max - 1, int(pos.max()))
        L = min(c.l_max, seen + T)
        k = self._long_filters(L).view(c.order - 1, d, L)
        D = self.D.view(c.order - 1, d)
        new_windows = []
        for n, x_n in enumerate(reversed(gates[1:])):
            v = v * x_n
            past = windows[:, n, :, windows.shape[-1] - seen:]
            new_windows.append(torch.cat((past, v.transpose(1, 2).to(windows.dtype)), -1)[..., -(c.l_max - 1):])
            v, _ = long_conv(v, k[n], D[n], initial_state=past, mode=mode)
        window_state = torch.stack([torch.nn.functional.pad(w, (c.l_max - 1 - w.shape[-1], 0)) for w in new_windows], 1)
        return self.out_proj(v * gates[0]), (conv_state, window_state, pos + T)
