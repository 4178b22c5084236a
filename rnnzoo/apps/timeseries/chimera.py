"""Chimera (Behrouz et al. 2024, Chimera: Effectively Modeling Multivariate Time Series with 2-Dimensional State
Space Models): layers of an input-dependent 2-D SSM over (time, variate), computed by ``scan2d``.

Each layer has two heads that differ in their discretisation step, the paper's split of the series into a
trend and a seasonal part: the trend head's step dt starts in [1e-3, 1e-2] (decays near 1: long memory),
the seasonal head's in [1e-1, 1] (short memory). Per head, with z = RMSNorm(x) and A = -exp(A_log) [4, d]:

    dt = softplus(W_dt z + dt_bias)                                  (input-dependent, Mamba-style)
    a1 = exp(dt A_1),  a4 = exp(dt A_4)                              (ZOH of the diagonal transitions)
    a2 = (1 - a1) sigmoid(c_2),  a3 = (1 - a4) sigmoid(c_3)          (cross terms; keep |h| bounded)
    u1 = dt * W_B1 z,  u2 = dt * W_B2 z
    y  = C_1 h1 + C_2 h2

and the layer returns x + W_out [y_trend, y_season], then an MLP. Tokens are per-variate patches
(``encoder.patches``; patch 1: every step). The forecast head reads the last time position of every
variate; the classifier averages over time and variates.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from rnnzoo.apps.timeseries.encoder import patches
from rnnzoo.apps.timeseries.scan2d import scan2d
from rnnzoo.models.block import MLP

DT_RANGES = {"trend": (1e-3, 1e-2), "season": (1e-1, 1.0)}


class SSM2DHead(nn.Module):
    """One discretisation: x [B, T, V, d] -> y [B, T, V, d]."""

    def __init__(self, d: int, dt_range: tuple[float, float]):
        super().__init__()
        self.dt_proj = nn.Linear(d, d)
        self.in_proj = nn.Linear(d, 2 * d, bias=False)
        lo, hi = dt_range
        dt = torch.exp(torch.rand(d) * (math.log(hi) - math.log(lo)) + math.log(lo))
        with torch.no_grad():
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # softplus^-1(dt), as Mamba
        self.A_log = nn.Parameter(torch.log(torch.arange(1, 5, dtype=torch.float32)[:, None].expand(4, d).clone()))
        self.A_log._no_weight_decay = True
        self.cross = nn.Parameter(torch.zeros(2, d))
        self.C = nn.Parameter(torch.randn(2, d) / math.sqrt(2))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        dt = nn.functional.softplus(self.dt_proj(z)).float()
        A = -torch.exp(self.A_log.float())
        a1, a4 = torch.exp(dt * A[0]), torch.exp(dt * A[3])
        a2, a3 = (1 - a1) * torch.sigmoid(self.cross[0]), (1 - a4) * torch.sigmoid(self.cross[1])
        b1, b2 = self.in_proj(z).float().chunk(2, dim=-1)
        h1, h2 = scan2d(dt * b1, dt * b2, a1, a2, a3, a4)
        return (self.C[0] * h1 + self.C[1] * h2).to(z.dtype)


class ChimeraLayer(nn.Module):
    def __init__(self, d: int):
        super().__init__()
        self.norm, self.norm2 = nn.RMSNorm(d), nn.RMSNorm(d)
        self.heads = nn.ModuleList(SSM2DHead(d, r) for r in DT_RANGES.values())
        self.out = nn.Linear(2 * d, d)
        self.mlp = MLP(d, 2.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.norm(x)
        x = x + self.out(torch.cat([head(z) for head in self.heads], dim=-1))
        return x + self.mlp(self.norm2(x))


class Chimera(nn.Module):
    """x [B, L, C] -> forecast [B, H, C] or logits [B, K] (``classify``)."""

    def __init__(self, out: int, *, d_model: int, n_layers: int, patch_len: int, classify: bool):
        super().__init__()
        self.patch_len, self.classify, self.out = patch_len, classify, out
        self.embed = nn.Linear(patch_len, d_model)
        self.layers = nn.ModuleList(ChimeraLayer(d_model) for _ in range(n_layers))
        self.norm = nn.RMSNorm(d_model)
        self.head = nn.Linear(d_model, out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.embed(patches(x, self.patch_len).transpose(2, 3))  # [B, N, C, d]
        for layer in self.layers:
            h = layer(h)
        h = self.norm(h)
        if self.classify:
            return self.head(h.mean((1, 2)))
        return self.head(h[:, -1]).transpose(1, 2)  # [B, C, H] -> [B, H, C]
