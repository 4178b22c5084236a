"""Digit classifiers: any registry mixer over pixel sequences, LRCN over frames, pLSTM over the image grid.

- ``sequential``: pixel value -> Linear(1, d) -> n_layers ``rnnzoo.models.Block`` (any registry mixer) ->
  RMSNorm -> the last position -> Linear(d, 10). The sMNIST / psMNIST protocol (Le, Jaitly & Hinton 2015)
  on 8x8 digits.
- ``lrcn`` (Donahue et al. 2015, Long-term Recurrent Convolutional Networks): a small CNN per frame
  (conv 3x3 16 -> ReLU -> max-pool 2 -> conv 3x3 32 -> ReLU -> global average pool -> Linear(32, d)) feeding
  the same mixer stack; reads a clip of a moving digit and names the digit. ``LRCNReader``: the same CNN and
  stack with a per-frame head over the 10 digits and a CTC blank, for reading several digits in order
  (``rnnzoo.apps.vision.reading``).
- ``tslstm`` (Ma, Chen, Kira & AlRegib 2019, TS-LSTM and Temporal-Inception): the same per-frame CNN, the
  frame features mean-pooled over ``segments`` equal temporal segments (temporal-segment pooling), then the
  mixer stack (an LSTM by default, as in the paper) over the segment features -> last position -> 10 classes.
- ``plstm2d`` (Pöppel et al. 2025): pixel embedding + learned 2-D position embedding -> n_layers pre-norm
  residual blocks of a pLSTM over the grid (``PLSTM2d``) and an MLP -> mean over cells -> Linear(d, 10).
- ``lightnet2d`` (Qin et al. 2024): the same grid classifier with LightNet's additive-decay scan over the
  grid (``LightNet2d``) in place of the pLSTM.

Inputs: ``sequential`` [B, 64, 1]; ``lrcn``, ``tslstm`` [B, T, 1, S, S]; ``plstm2d``, ``lightnet2d`` [B, 8, 8]. Output: logits [B, 10]
(``LRCNReader``: log-probabilities [B, T, 11]).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from rnnzoo import mixers
from rnnzoo.apps.vision.ops import lightnet2d, plstm2d, plstm2d_ref
from rnnzoo.config_args import option
from rnnzoo.models.block import MLP, Block

ARCHS = ("sequential", "lrcn", "tslstm", "plstm2d", "lightnet2d")
CLIP_ARCHS = ("lrcn", "tslstm")  # read clips of a moving digit
GRID_ARCHS = ("plstm2d", "lightnet2d")  # read the image grid; no registry mixer
PLSTM_MODES = ("parallel", "recurrent")
N_CLASSES = 10


@dataclass
class DigitsModelConfig:
    arch: str = option("sequential", "sequential (a mixer over pixels), lrcn (CNN per frame -> mixer), tslstm (CNN "
                                     "per frame -> segment pooling -> mixer), plstm2d or lightnet2d (over the grid)",
                       choices=ARCHS)
    mixer: str = option("lstm", "registry mixer of sequential and lrcn, with options as in gla:num_heads=2",
                        spec_of="mixer_options")
    d_model: int = option(64, "hidden width")
    n_layers: int = option(2, "blocks")
    mlp_ratio: float = option(2.0, "MLP width of each block, as a multiple of d_model (0: no MLP)")
    plstm_mode: str = option("recurrent", "plstm2d: the parallel form or the topological loop (the same "
                                          "function; the loop is faster on CPU at 8x8)", choices=PLSTM_MODES)
    segments: int = option(4, "tslstm: temporal segments the frame features are mean-pooled over")
    mixer_options: dict = option(factory=dict, help="config overrides for the mixer")

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise ValueError(f"unknown model {self.arch!r}; choose one of {ARCHS}")
        if self.plstm_mode not in PLSTM_MODES:
            raise ValueError(f"plstm_mode must be one of {PLSTM_MODES}, got {self.plstm_mode!r}")
        if self.d_model < 4 or self.d_model % 4:
            raise ValueError(f"d_model must be a positive multiple of 4 (grid models: one head per direction), "
                             f"got {self.d_model}")
        if self.segments < 1:
            raise ValueError(f"segments must be >= 1, got {self.segments}")
        if self.arch not in GRID_ARCHS:
            mixers.make_config(self.mixer, self.d_model, **self.mixer_options)  # unknown name / options raise


class MixerStack(nn.Module):
    """[B, T, d] -> [B, T, d]: n_layers Blocks of the registry mixer, then RMSNorm."""

    def __init__(self, c: DigitsModelConfig):
        super().__init__()
        self.blocks = nn.ModuleList(Block(mixers.build(c.mixer, c.d_model, **c.mixer_options), c.mlp_ratio)
                                    for _ in range(c.n_layers))
        self.norm = nn.RMSNorm(c.d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x, _ = block(x)
        return self.norm(x)


class SequentialClassifier(nn.Module):
    """Pixels [B, T, 1] -> logits [B, 10]."""

    def __init__(self, c: DigitsModelConfig):
        super().__init__()
        self.embed = nn.Linear(1, c.d_model)
        self.mix = MixerStack(c)
        self.head = nn.Linear(c.d_model, N_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.mix(self.embed(x))[:, -1])


def frame_cnn(d_model: int) -> nn.Sequential:
    """LRCN's per-frame features: [N, 1, S, S] -> [N, d_model]."""
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(32, d_model))


class LRCN(nn.Module):
    """Frames [B, T, 1, S, S] -> per-frame CNN features [B, T, d] -> mixer stack -> logits [B, 10]."""

    def __init__(self, c: DigitsModelConfig):
        super().__init__()
        self.cnn = frame_cnn(c.d_model)
        self.mix = MixerStack(c)
        self.head = nn.Linear(c.d_model, N_CLASSES)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        b, t = frames.shape[:2]
        return self.head(self.mix(self.cnn(frames.flatten(0, 1)).view(b, t, -1))[:, -1])


class TSLSTM(nn.Module):
    """Frames [B, T, 1, S, S] -> per-frame CNN features [B, T, d] -> mean over each of ``segments`` temporal
    segments [B, segments, d] -> mixer stack -> logits [B, 10]. T >= segments (uneven segments differ by one
    frame)."""

    def __init__(self, c: DigitsModelConfig):
        super().__init__()
        self.segments = c.segments
        self.cnn = frame_cnn(c.d_model)
        self.mix = MixerStack(c)
        self.head = nn.Linear(c.d_model, N_CLASSES)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        b, t = frames.shape[:2]
        if t < self.segments:
            raise ValueError(f"tslstm pools {self.segments} segments and needs at least that many frames, got {t}")
        feats = self.cnn(frames.flatten(0, 1)).view(b, t, -1)
        pooled = torch.stack([seg.mean(1) for seg in feats.tensor_split(self.segments, 1)], 1)
        return self.head(self.mix(pooled)[:, -1])


class LRCNReader(nn.Module):
    """Frames [B, T, 1, S, S] -> per-frame CNN features -> mixer stack -> per-frame log-probabilities
    [B, T, 11] over the 10 digits and the CTC blank (index 10)."""

    def __init__(self, c: DigitsModelConfig):
        super().__init__()
        if c.arch != "lrcn":
            raise ValueError(f"reading several digits per clip needs --model lrcn, got {c.arch!r}")
        self.cnn = frame_cnn(c.d_model)
        self.mix = MixerStack(c)
        self.head = nn.Linear(c.d_model, N_CLASSES + 1)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        b, t = frames.shape[:2]
        return self.head(self.mix(self.cnn(frames.flatten(0, 1)).view(b, t, -1))).log_softmax(-1)


class PLSTM2d(nn.Module):
    """pLSTM over a grid, one head per direction (from the top-left, top-right, bottom-left, bottom-right
    corner: the grid flipped so that the op's left/top edges point away from that corner). x: [B, X, Y, d] ->
    [B, X, Y, d]. Gates from the input: source and mark sigmoid; each outgoing edge takes a convex-weighted
    sum of the incoming ones, sigmoid(a_o) * softmax_in(b_o,in), so the path sums stay bounded (the paper's
    P-mode stabilisation); direct D sigmoid. GroupNorm per head on the output."""

    FLIPS = ((), (2,), (1,), (1, 2))

    def __init__(self, d_model: int, mode: str = "recurrent"):
        super().__init__()
        self.d_head, self.mode = d_model // 4, mode
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.gates = nn.Linear(d_model, 4 * 11)  # per head: 2 source, 2 out-scales, 2x2 mixing logits, 2 mark, 1 D
        self.norm = nn.GroupNorm(4, d_model)
        self.out = nn.Linear(d_model, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, nx, ny, d = x.shape
        q, k, v = self.qkv(x).view(b, nx, ny, 3, 4, self.d_head).unbind(3)
        g = self.gates(x).view(b, nx, ny, 4, 11)
        source, mark, direct = g[..., 0:2].sigmoid(), g[..., 2:4].sigmoid(), g[..., 4].sigmoid()
        transition = g[..., 5:7].sigmoid()[..., None] * g[..., 7:11].view(b, nx, ny, 4, 2, 2).softmax(-1)
        op = plstm2d if self.mode == "parallel" else plstm2d_ref
        # the four directions as one batch: head h's slice, flipped so that its corner is the top-left
        parts = [torch.cat([t[:, :, :, h:h + 1].flip(dims) for h, dims in enumerate(self.FLIPS)])
                 for t in (q * self.d_head ** -0.5, k, v, source, transition, mark, direct)]
        ys = op(*parts).split(b)
        y = torch.cat([y.flip(dims) for y, dims in zip(ys, self.FLIPS)], 3).reshape(b * nx * ny, d)
        return self.out(self.norm(y).view(b, nx, ny, d))


class LightNet2d(nn.Module):
    """LightNet's additive-decay scan over a grid (``ops.lightnet2d``), one head per corner direction as in
    ``PLSTM2d``; LightNet's output: per-head norm, times a swish gate of the input, then W_o.
    x: [B, X, Y, d] -> [B, X, Y, d]."""

    def __init__(self, d_model: int):
        super().__init__()
        self.d_head = d_model // 4
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.gate = nn.Linear(d_model, d_model)
        self.norm = nn.GroupNorm(4, d_model)
        self.out = nn.Linear(d_model, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, nx, ny, d = x.shape
        q, k, v = self.qkv(x).view(b, nx, ny, 3, 4, self.d_head).unbind(3)
        parts = [torch.cat([t[:, :, :, h:h + 1].flip(dims) for h, dims in enumerate(PLSTM2d.FLIPS)]) for t in (q, k, v)]
        ys = lightnet2d(*parts).split(b)
        y = torch.cat([y.flip(dims) for y, dims in zip(ys, PLSTM2d.FLIPS)], 3).reshape(b * nx * ny, d)
        return self.out(self.norm(y).view(b, nx, ny, d) * nn.functional.silu(self.gate(x)))


class GridClassifier(nn.Module):
    """Images [B, X, Y] -> logits [B, 10], with pLSTM (``plstm2d``) or LightNet (``lightnet2d``) grid layers."""

    def __init__(self, c: DigitsModelConfig, size: tuple[int, int] = (8, 8)):
        super().__init__()
        self.arch = c.arch
        self.embed = nn.Linear(1, c.d_model)
        self.pos = nn.Parameter(0.02 * torch.randn(*size, c.d_model))
        self.layers = nn.ModuleList(PLSTM2d(c.d_model, c.plstm_mode) if c.arch == "plstm2d" else LightNet2d(c.d_model)
                                    for _ in range(c.n_layers))
        self.norms = nn.ModuleList(nn.RMSNorm(c.d_model) for _ in range(2 * c.n_layers))
        self.mlps = nn.ModuleList(MLP(c.d_model, c.mlp_ratio) for _ in range(c.n_layers))
        self.norm = nn.RMSNorm(c.d_model)
        self.head = nn.Linear(c.d_model, N_CLASSES)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.shape[1:] != self.pos.shape[:2]:
            raise ValueError(f"{self.arch} was built for {tuple(self.pos.shape[:2])} images, got {tuple(images.shape[1:])}")
        x = self.embed(images[..., None]) + self.pos
        for i, (layer, mlp) in enumerate(zip(self.layers, self.mlps)):
            x = x + layer(self.norms[2 * i](x))
            x = x + mlp(self.norms[2 * i + 1](x))
        return self.head(self.norm(x.mean((1, 2))))


def build_classifier(c: DigitsModelConfig) -> nn.Module:
    return {"sequential": SequentialClassifier, "lrcn": LRCN, "tslstm": TSLSTM, "plstm2d": GridClassifier,
            "lightnet2d": GridClassifier}[c.arch](c)
