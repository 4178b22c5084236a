"""The MAD backbones (Poli et al. 2024; athms/mad-lab ``mad/model``): mixer and SwiGLU layers alternating, each
pre-norm residual ``x + layer(norm(x))``, width 128 in the protocol. A language model for five tasks and an
encoder-decoder for compression, whose only path from input to output is the encoder's last position.

```python
model = MADLanguageModel(vocab_size=16, d_model=128, mixer="mamba")   # mamba, swiglu, mamba, swiglu
logits = model(tokens)                                               # [B, T] -> [B, T, vocab_size]
```
"""

from __future__ import annotations

import torch
from torch import nn

from rnnzoo import mixers


class SwiGLU(nn.Module):
    """MAD's SwiGLU: inner width int(8d/3) rounded up to a multiple of 16, no biases. x: [..., d] -> [..., d]."""

    def __init__(self, d_model: int, multiple_of: int = 16):
        super().__init__()
        inner = multiple_of * ((int(2 * d_model * 4 / 3) + multiple_of - 1) // multiple_of)
        self.gate = nn.Linear(d_model, inner, bias=False)
        self.up = nn.Linear(d_model, inner, bias=False)
        self.down = nn.Linear(inner, d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(nn.functional.silu(self.gate(x)) * self.up(x))


class _Layers(nn.Module):
    """n x (mixer, SwiGLU), each pre-norm residual. x: [B, T, d] -> [B, T, d]."""

    def __init__(self, d_model: int, mixer: str, mixer_options: dict, n_mixers: int):
        super().__init__()
        self.mixers = nn.ModuleList(mixers.build(mixer, d_model, **mixer_options) for _ in range(n_mixers))
        self.mlps = nn.ModuleList(SwiGLU(d_model) for _ in range(n_mixers))
        self.norms = nn.ModuleList(nn.RMSNorm(d_model) for _ in range(2 * n_mixers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, (mixer, mlp) in enumerate(zip(self.mixers, self.mlps)):
            x = x + mixer(self.norms[2 * i](x))[0]
            x = x + mlp(self.norms[2 * i + 1](x))
        return x

    @property
    def state_size(self) -> int | None:
        sizes = [m.state_size for m in self.mixers]
        return None if any(s is None for s in sizes) else sum(sizes)


def _init(module: nn.Module) -> None:
    """MAD's init: normal(0, 0.02) weights, zero biases."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)


class MADLanguageModel(nn.Module):
    """Embedding, ``n_mixers`` x (mixer, SwiGLU), norm, unembedding. tokens [B, T] -> logits [B, T, vocab_size]."""

    def __init__(self, vocab_size: int, d_model: int, mixer: str, mixer_options: dict | None = None, n_mixers: int = 2):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, d_model)
        self.layers = _Layers(d_model, mixer, mixer_options or {}, n_mixers)
        self.norm = nn.RMSNorm(d_model)
        self.head = nn.Linear(d_model, vocab_size)
        _init(self)

    @property
    def state_size(self) -> int | None:
        return self.layers.state_size

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(self.norm(self.layers(self.embed(tokens))))


def sincos(length: int, dim: int) -> torch.Tensor:
    """[length, dim] fixed sine-cosine position codes (MAD's ``posemb_sincos_1d``, temperature 10000)."""
    pos = torch.arange(length, dtype=torch.float32)[:, None]
    omega = 1.0 / 10000 ** (torch.arange(dim // 2, dtype=torch.float32) / max(1, dim // 2 - 1))
    angles = pos * omega[None]
    out = torch.cat([angles.sin(), angles.cos()], 1)
    return nn.functional.pad(out, (0, dim - out.shape[1]))


class MADAutoEncoder(nn.Module):
    """MAD's compression backbone: the encoder's output at the last position, plus a fixed position code per
    output position, through a non-expanding MLP decoder (norm, Linear, GELU, twice), then norm and
    unembedding. tokens [B, T] -> logits [B, T, vocab_size]."""

    def __init__(self, vocab_size: int, d_model: int, mixer: str, mixer_options: dict | None = None, n_mixers: int = 2):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, d_model)
        self.layers = _Layers(d_model, mixer, mixer_options or {}, n_mixers)
        self.decoder = nn.Sequential(nn.RMSNorm(d_model), nn.Linear(d_model, d_model), nn.GELU(),
                                     nn.RMSNorm(d_model), nn.Linear(d_model, d_model), nn.GELU())
        self.head = nn.Sequential(nn.RMSNorm(d_model), nn.Linear(d_model, vocab_size))
        self.d_model = d_model
        _init(self)

    @property
    def state_size(self) -> int | None:
        return self.layers.state_size

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        code = self.layers(self.embed(tokens))[:, -1]                       # [B, d]: the bottleneck
        positions = sincos(tokens.shape[1], self.d_model).to(code)
        return self.head(self.decoder(code[:, None] + positions[None]))


BACKBONES = {"mad_lm": MADLanguageModel, "mad_autoencoder": MADAutoEncoder}
