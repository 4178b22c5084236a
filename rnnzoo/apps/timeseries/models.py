"""The model option of the time-series app: any registry mixer, the app's own tpgn / chimera / arnet, or a
classical baseline (computed by ``baselines``, never trained).

```python
net = build_model(TSModelConfig(model="gru", patch_len=4), channels=1, out=12, period=12, classify=False)
y = net(x)                          # x [B, L, C] -> forecast [B, 12, C]
```
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from rnnzoo import mixers
from rnnzoo.apps.timeseries.arnet import ARNet
from rnnzoo.apps.timeseries.chimera import Chimera
from rnnzoo.apps.timeseries.encoder import MixerModel
from rnnzoo.apps.timeseries.tpgn import TPGN
from rnnzoo.config_args import option

APP_MODELS = ("tpgn", "chimera", "arnet")
FORECAST_BASELINES = ("naive", "seasonal_naive", "ar")
CLASSIFY_BASELINES = ("1nn",)
CHANNELS = ("independent", "mixing")
FORECAST_TOKENS = 48  # default cap on a forecaster's tokens; PatchTST's lookback 336 at stride 8 gives 42
CLASSIFY_PATCH = 8


@dataclass
class TSModelConfig:
    model: str = option("lstm", "a registry mixer as encoder (options as in gla:num_heads=2; see `rnnzoo list`), "
                                f"or {', '.join(APP_MODELS)}, or a baseline: {', '.join(FORECAST_BASELINES)} "
                                f"(forecast), {', '.join(CLASSIFY_BASELINES)} (classify)", spec_of="mixer_options")
    d_model: int = option(32, "hidden width")
    n_layers: int = option(2, "encoder layers (mixer encoders and chimera)")
    patch_len: int | None = option(None, "steps per token (PatchTST patching; tpgn: the period P); None: "
                                         "forecast ceil(lookback / 48), i.e. single steps up to 48 and at "
                                         "most 48 tokens beyond (tpgn: the series' period), classify 8")
    channels: str = option("independent", "mixer encoders: one sequence per channel with shared weights, or one "
                                          "sequence of all channels", choices=CHANNELS)
    instance_norm: bool = option(True, "subtract each input window's mean and add it back to the forecast "
                                       "(RevIN without its affine part); not for arnet, a pure AR model")
    dropout: float = option(0.0, "dropout in the mixer blocks")
    sparsity: float = option(0.0, "arnet: weight of AR-Net's sparsity regulariser")
    mixer_options: dict = option(factory=dict, help="config overrides for the encoder mixer")

    def __post_init__(self) -> None:
        if self.model not in APP_MODELS + FORECAST_BASELINES + CLASSIFY_BASELINES:
            mixers.make_config(self.model, self.d_model, **self.mixer_options)  # unknown name/options raise
        elif self.mixer_options:
            raise ValueError(f"model {self.model!r} takes no mixer options, got {self.mixer_options}")
        if self.d_model < 1 or self.n_layers < 1:
            raise ValueError(f"d_model and n_layers must be >= 1, got {self.d_model}, {self.n_layers}")
        if self.patch_len is not None and self.patch_len < 1:
            raise ValueError(f"patch_len must be >= 1 or None, got {self.patch_len}")
        if self.channels not in CHANNELS:
            raise ValueError(f"channels must be one of {CHANNELS}, got {self.channels!r}")
        if not 0 <= self.dropout < 1 or self.sparsity < 0:
            raise ValueError(f"dropout must be in [0, 1) and sparsity >= 0, got {self.dropout}, {self.sparsity}")

    @property
    def baseline(self) -> bool:
        return self.model in FORECAST_BASELINES + CLASSIFY_BASELINES


class InstanceNorm(nn.Module):
    """Wraps a forecaster: x [B, L, C] minus its per-window mean in, the mean added back to [B, H, C] out."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(1, keepdim=True)
        return self.inner(x - mean) + mean


def build_model(config: TSModelConfig, *, channels: int, out: int, period: int, lookback: int,
                classify: bool) -> nn.Module:
    """The network for ``config.model`` (not a baseline): x [B, L, C] -> forecast [B, out, C] or logits
    [B, out] (``classify``). ``period``: the series' seasonal period (tpgn's default P); ``lookback``: the
    input window L, which ``patch_len`` may not exceed."""
    c = config
    if c.baseline:
        raise ValueError(f"{c.model!r} is a classical baseline: nothing to build or train")
    if c.patch_len is not None and c.patch_len > lookback:
        raise ValueError(f"patch_len {c.patch_len} is longer than the input window of {lookback} steps; "
                         f"choose at most {lookback}")
    patch = c.patch_len or default_patch_len(lookback, classify)
    if c.model == "arnet":
        if classify:
            raise ValueError("arnet is a forecaster; classify with a mixer, tpgn or chimera")
        return ARNet(lookback, out, c.sparsity)
    if c.model == "tpgn":
        net = TPGN(c.patch_len or max(2, period), out, d_model=c.d_model, classify=classify)
    elif c.model == "chimera":
        net = Chimera(out, d_model=c.d_model, n_layers=c.n_layers, patch_len=patch, classify=classify)
    else:
        net = MixerModel(c.model, c.mixer_options, channels, out, d_model=c.d_model, n_layers=c.n_layers,
                         patch_len=patch, independent=c.channels == "independent", classify=classify,
                         dropout=c.dropout)
    return InstanceNorm(net) if c.instance_norm and not classify else net


def default_patch_len(lookback: int, classify: bool) -> int:
    """Steps per token when ``patch_len`` is None. Classify: ``CLASSIFY_PATCH``. Forecast: the fewest steps
    that keep the tokens at most ``FORECAST_TOKENS``, ceil(lookback / 48): single steps for lookbacks up to
    48, patches beyond (co2's 192 -> 4). The encoders' recurrences and chimera's 2-D scan are sequential in
    the token count, so this bounds a run's cost whatever the lookback."""
    return CLASSIFY_PATCH if classify else -(-lookback // FORECAST_TOKENS)


def penalty(net: nn.Module) -> torch.Tensor | float:
    """The model's own regulariser (AR-Net's sparsity term), else 0."""
    return net.penalty() if isinstance(net, ARNet) else 0.0
