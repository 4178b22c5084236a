"""Next-frame predictors with tensor-valued states: ConvLSTM and ConvS5.

Both: a conv encoder (two stride-2 4x4 convs with GELU, 1 -> 16 -> C channels, 32x32 -> 8x8), ``n_layers``
recurrent layers on the 8x8 feature maps, a mirrored transposed-conv decoder back to one channel and a
sigmoid (the recurrences run at 1/16 of the pixels: minutes on 2 CPU cores). ``forward(frames)``
predicts frame t+1 from frames 0..t for every t (teacher forcing); ``generate(context, n)`` warms the state
on the context and then feeds each predicted frame back in.

- ``convlstm`` (Shi et al. 2015, Convolutional LSTM Network, Eq. 3 without the peephole terms): the gates
  i, f, o and the candidate g are one k x k convolution of [x_t, h_{t-1}]; c_t = f c_{t-1} + i g,
  h_t = o tanh(c_t). Training runs the loop over frames.
- ``convs5`` (Smith et al. 2023, Convolutional State Space Models, ConvS5 layer): per layer
  X_t = A_bar X_{t-1} + B_bar * U_t, Y_t = GELU(C * X_t + D U_t) + U_t, with ``*`` a k x k convolution, A_bar
  diagonal over the P state channels (pointwise in space, so the state update is elementwise). A is real
  (S5's complex diagonal replaced by real negative eigenvalues, as S4D-Real): A_bar = exp(-exp(log_rate)),
  B_bar = (1 - A_bar) B (zero-order hold up to the scale folded into B), rates initialised so that the
  timescales 1 / rate span 1 to 20 frames log-uniformly. Training runs the state update for all frames as
  one parallel scan (``ops.convs5_scan``); generation runs ``ops.convs5_step``, the same recurrence.

Frames: [B, T, 1, H, W] in [0, 1], H and W multiples of 4. States: ConvLSTM [(h, c)] per layer, ConvS5 [X] per layer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from rnnzoo.apps.vision.ops import convs5_scan, convs5_step
from rnnzoo.config_args import option

VIDEO_ARCHS = ("convlstm", "convs5")


@dataclass
class VideoModelConfig:
    arch: str = option("convs5", "frame predictor", choices=VIDEO_ARCHS)
    channels: int = option(16, "feature channels of the encoder and of each layer's input/output")
    state_channels: int = option(32, "state channels per layer (ConvLSTM hidden channels, ConvS5 P)")
    kernel: int = option(3, "kernel size of the recurrent convolutions")
    n_layers: int = option(2, "recurrent layers")

    def __post_init__(self) -> None:
        if self.arch not in VIDEO_ARCHS:
            raise ValueError(f"unknown model {self.arch!r}; choose one of {VIDEO_ARCHS}")
        if self.kernel < 1 or self.kernel % 2 == 0:
            raise ValueError(f"kernel must be odd and >= 1, got {self.kernel}")
        if min(self.channels, self.state_channels, self.n_layers) < 1:
            raise ValueError("channels, state_channels and n_layers must be >= 1")


class ConvLSTMCell(nn.Module):
    def __init__(self, c_in: int, c_hidden: int, kernel: int):
        super().__init__()
        self.conv = nn.Conv2d(c_in + c_hidden, 4 * c_hidden, kernel, padding=kernel // 2)
        self.out = nn.Conv2d(c_hidden, c_in, 1)

    def step(self, x, state):
        """x: [B, C, H, W]; state (h, c) [B, P, H, W] each or None -> (y [B, C, H, W], (h, c))."""
        if state is None:
            zero = x.new_zeros(x.shape[0], self.conv.out_channels // 4, *x.shape[2:])
            state = (zero, zero)
        h, c = state
        i, f, o, g = self.conv(torch.cat([x, h], 1)).chunk(4, 1)
        c = f.sigmoid() * c + i.sigmoid() * g.tanh()
        h = o.sigmoid() * c.tanh()
        return x + self.out(h), (h, c)

    def forward(self, x, state=None):
        """x: [B, T, C, H, W] -> (y [B, T, C, H, W], final state)."""
        ys = []
        for t in range(x.shape[1]):
            y, state = self.step(x[:, t], state)
            ys.append(y)
        return torch.stack(ys, 1), state


class ConvS5Layer(nn.Module):
    def __init__(self, c_in: int, p: int, kernel: int):
        super().__init__()
        self.b = nn.Conv2d(c_in, p, kernel, padding=kernel // 2, bias=False)
        self.c = nn.Conv2d(p, c_in, kernel, padding=kernel // 2)
        self.d = nn.Parameter(torch.ones(c_in))
        self.log_rate = nn.Parameter(-torch.linspace(0, math.log(20), p))  # timescales 1..20 frames
        self.log_rate._no_weight_decay = True

    def log_a(self) -> torch.Tensor:
        return -self.log_rate.exp()

    def _bu(self, u: torch.Tensor) -> torch.Tensor:
        """B_bar * U. u: [N, C, H, W] -> [N, P, H, W]."""
        return (1 - self.log_a().exp())[:, None, None] * self.b(u)

    def _out(self, x, u):
        return nn.functional.gelu(self.c(x) + self.d[:, None, None] * u) + u

    def forward(self, u, state=None, mode: str = "chunk"):
        """u: [B, T, C, H, W] -> (y [B, T, C, H, W], X_T [B, P, H, W]); mode "chunk" (scan) or "recurrent"."""
        b, t = u.shape[:2]
        bu = self._bu(u.flatten(0, 1)).view(b, t, -1, *u.shape[3:])
        x, last = convs5_scan(bu, self.log_a(), state, mode)
        return self._out(x.flatten(0, 1), u.flatten(0, 1)).view_as(u), last

    def step(self, u, state):
        """u: [B, C, H, W]; state [B, P, H, W] or None -> (y [B, C, H, W], X_t)."""
        bu = self._bu(u)
        x = convs5_step(bu, self.log_a(), torch.zeros_like(bu) if state is None else state)
        return self._out(x, u), x


class FramePredictor(nn.Module):
    """Encoder -> recurrent layers -> decoder (module docstring)."""

    def __init__(self, c: VideoModelConfig):
        super().__init__()
        self.config = c
        self.enc = nn.Sequential(nn.Conv2d(1, 16, 4, stride=2, padding=1), nn.GELU(),
                                 nn.Conv2d(16, c.channels, 4, stride=2, padding=1), nn.GELU())
        layer = ConvLSTMCell if c.arch == "convlstm" else ConvS5Layer
        self.layers = nn.ModuleList(layer(c.channels, c.state_channels, c.kernel) for _ in range(c.n_layers))
        self.dec = nn.Sequential(nn.ConvTranspose2d(c.channels, 16, 4, stride=2, padding=1), nn.GELU(),
                                 nn.ConvTranspose2d(16, 1, 4, stride=2, padding=1))

    def _check(self, frames: torch.Tensor) -> None:
        if frames.ndim != 5 or frames.shape[2] != 1 or frames.shape[3] % 4 or frames.shape[4] % 4:
            raise ValueError(f"frames must be [B, T, 1, H, W] with H and W multiples of 4, got {tuple(frames.shape)}")

    def forward(self, frames: torch.Tensor, states=None, mode: str = "chunk"):
        """frames [B, T, 1, H, W] -> (predictions of frames 1..T [B, T, 1, H, W] in [0, 1], states per layer)."""
        logits, states = self.logits(frames, states, mode)
        return logits.sigmoid(), states

    def logits(self, frames: torch.Tensor, states=None, mode: str = "chunk"):
        """``forward`` before the sigmoid (for a cross-entropy loss on [0, 1] frames)."""
        self._check(frames)
        b, t = frames.shape[:2]
        x = self.enc(frames.flatten(0, 1)).view(b, t, -1, frames.shape[3] // 4, frames.shape[4] // 4)
        states = states or [None] * len(self.layers)
        new = []
        for layer, s in zip(self.layers, states):
            x, s = layer(x, s, mode) if isinstance(layer, ConvS5Layer) else layer(x, s)
            new.append(s)
        return self.dec(x.flatten(0, 1)).view_as(frames), new

    def step(self, frame: torch.Tensor, states):
        """frame [B, 1, H, W] -> (prediction of the next frame [B, 1, H, W], states)."""
        x, new = self.enc(frame), []
        for layer, s in zip(self.layers, states or [None] * len(self.layers)):
            x, s = layer.step(x, s)
            new.append(s)
        return self.dec(x).sigmoid(), new

    @torch.no_grad()
    def generate(self, context: torch.Tensor, n: int) -> torch.Tensor:
        """Frames after ``context`` [B, Tc, 1, H, W], each predicted one fed back in: [B, n, 1, H, W]."""
        pred, states = self(context)
        frame, out = pred[:, -1], [pred[:, -1]]
        for _ in range(n - 1):
            frame, states = self.step(frame, states)
            out.append(frame)
        return torch.stack(out, 1)
