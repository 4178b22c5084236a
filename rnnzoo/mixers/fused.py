"""Several layers that read the same input, run as one call: a mixer keeps its ``nn.Linear`` /
``ShortConvolution`` modules (so its state dict, its init and its optimiser hints stay those of the separate
layers) and concatenates their weights at forward time.

- ``fused_linear``: the projections of one input as one GEMM, outputs side by side.
- ``fused_short_conv``: the short convolutions of channels laid side by side as one convolution.

On the CPU a training step of a mixer with six input projections spends more in the GEMMs' fixed costs (and in
accumulating six input gradients) than in concatenating weights of a few hundred kilobytes.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from rnnzoo.mixers.short_conv import ShortConvolution, short_conv


def fused_linear(x: torch.Tensor, layers: Sequence[nn.Linear]) -> torch.Tensor:
    """x [..., d_in] -> [..., sum of the layers' d_out]: the outputs of ``layers`` side by side (split them with
    ``.split``). The layers must all have a bias or all have none."""
    if len({layer.bias is None for layer in layers}) > 1:
        raise ValueError("fused_linear: the layers must all have a bias or all have none")
    bias = None if layers[0].bias is None else torch.cat([layer.bias for layer in layers])
    return F.linear(x, torch.cat([layer.weight for layer in layers]), bias)


def fused_short_conv(x: torch.Tensor, convs: Sequence[ShortConvolution],
                     windows: Sequence[torch.Tensor]) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
    """x [B, T, sum D_i] (the convs' inputs side by side, any strides), windows [B, D_i, K-1] ->
    (y [B, T, sum D_i], the new windows [B, D_i, K-1]). The convs must share kernel size and activation and all
    have a bias or all have none."""
    first = convs[0]
    if any((c.kernel_size, c.activation, c.bias is None) != (first.kernel_size, first.activation, first.bias is None)
           for c in convs):
        raise ValueError("fused_short_conv: the convolutions must share kernel_size, activation and bias presence")
    bias = None if first.bias is None else torch.cat([c.bias for c in convs])
    y, window = short_conv(x, torch.cat([c.weight[:, 0] for c in convs]), bias, torch.cat(tuple(windows), dim=1),
                           first.activation)
    return y, window.split([c.dim for c in convs], dim=1)
