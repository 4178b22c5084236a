"""Neural marked point processes: a history encoder (blocks of any causal registry mixer) and an intensity head.

Position i of the encoder reads event i-1 (a start token at time 0 for i = 0): its mark embedding plus a
linear map of (gap, log1p(gap)). Its output h_i describes the history before event i, and the head gives the
intensity lambda_k(s | h_i) at elapsed time s after the previous event and its integral Lambda(s | h_i).

- ``rmtpp`` (Du et al. 2016, Recurrent Marked Temporal Point Processes, eq. 11-12): total intensity
  exp(v.h + w s + b) with one learned w, marks by softmax(V h) independent of time; the integral is in
  closed form, exp(v.h + b) (exp(w s) - 1) / w.
- ``nhp`` (Mei & Eisner 2017, The Neural Hawkes Process, eq. 4-7, on top of any encoder): h_i gives a
  cell c, a target c_bar, a decay delta > 0 and a gate o; the hidden state decays continuously,
  h(s) = o * tanh(c_bar + (c - c_bar) exp(-delta s)), and lambda_k(s) = softplus(w_k . h(s) + b_k). The
  integral has no closed form: Monte Carlo with ``mc_samples`` uniform points per interval.

```python
model = TPPModel(TPPConfig(num_marks=3, head="nhp", mixer="gru"))
ll = model.log_likelihood(gaps, marks, mask)     # gaps [B, N] float, marks [B, N] int64, mask [B, N] -> [B, N]
```
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from rnnzoo import mixers
from rnnzoo.config_args import option
from rnnzoo.models.block import Block

HEADS = ("rmtpp", "nhp")


@dataclass
class TPPConfig:
    num_marks: int | None = option(None, "event types; None until the data sets it", derived=True)
    head: str = option("rmtpp", "intensity head: rmtpp (closed-form integral) or nhp (continuous-time decay, "
                                "Monte Carlo integral)", choices=HEADS)
    mixer: str = option("gru", "registry mixer of the history encoder, with options as in gla:num_heads=2",
                        spec_of="mixer_options")
    mixer_options: dict = option(factory=dict, help="config overrides for the mixer")
    d_model: int = option(32, "encoder width")
    n_layers: int = option(1, "encoder blocks")
    mc_samples: int = option(8, "nhp: Monte Carlo points per interval for the integral while training")

    def __post_init__(self) -> None:
        if self.head not in HEADS:
            raise ValueError(f"head must be one of {HEADS}, got {self.head!r}")
        if self.n_layers < 1 or self.d_model < 1 or self.mc_samples < 1:
            raise ValueError(f"n_layers, d_model and mc_samples must be >= 1, got {self.n_layers}, {self.d_model}, "
                             f"{self.mc_samples}")
        mixers.make_config(self.mixer, self.d_model, **self.mixer_options)


class TPPModel(nn.Module):
    def __init__(self, config: TPPConfig):
        super().__init__()
        if config.num_marks is None:
            raise ValueError("TPPConfig.num_marks is None; set it to the number of event types")
        if not mixers.get(config.mixer).causal:
            raise ValueError(f"the history encoder needs a causal mixer; {config.mixer!r} is not causal")
        self.config, d, k = config, config.d_model, config.num_marks
        self.mark_embed = nn.Embedding(k + 1, d)  # id k: the start token
        self.time_proj = nn.Linear(2, d)
        self.blocks = nn.ModuleList(Block(mixers.build(config.mixer, d, **config.mixer_options))
                                    for _ in range(config.n_layers))
        self.norm = nn.RMSNorm(d)
        self.head = RMTPPHead(d, k) if config.head == "rmtpp" else NeuralHawkesHead(d, k)

    def encode(self, gaps: torch.Tensor, marks: torch.Tensor) -> torch.Tensor:
        """gaps, marks [B, N] (event i: gap to event i-1, mark) -> histories h [B, N, d]; h_i excludes event i."""
        prev_marks = torch.cat((torch.full_like(marks[:, :1], self.config.num_marks), marks[:, :-1]), 1)
        prev_gaps = torch.cat((torch.zeros_like(gaps[:, :1]), gaps[:, :-1]), 1)
        x = self.mark_embed(prev_marks) + self.time_proj(torch.stack((prev_gaps, prev_gaps.log1p()), -1))
        for block in self.blocks:
            x, _ = block(x)
        return self.norm(x)

    def log_likelihood(self, gaps: torch.Tensor, marks: torch.Tensor, mask: torch.Tensor,
                       mc_samples: int | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        """[B, N] per-event log lambda_{m_i}(gap_i) - Lambda(gap_i), zero where ``mask`` is False."""
        h = self.encode(gaps, marks)
        log_rate = self.head.log_rate(h, gaps[..., None])[..., 0, :]  # [B, N, K]
        event = log_rate.gather(-1, marks[..., None].clamp(min=0))[..., 0]
        total = self.head.integral(h, gaps, mc_samples or self.config.mc_samples, generator)
        return torch.where(mask, event - total, torch.zeros_like(event))


class RMTPPHead(nn.Module):
    def __init__(self, d: int, k: int):
        super().__init__()
        self.base = nn.Linear(d, 1)
        self.marks = nn.Linear(d, k)
        self.w = nn.Parameter(torch.tensor(0.1))

    def log_rate(self, h: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """h [B, N, d], s [B, N, S] -> log lambda_k [B, N, S, K]."""
        total = self.base(h) + self.w * s  # [B, N, S]
        return total[..., None] + self.marks(h).log_softmax(-1)[..., None, :]

    def integral(self, h: torch.Tensor, s: torch.Tensor, mc_samples=None, generator=None) -> torch.Tensor:
        """h [B, N, d], s [B, N] -> Lambda(s) [B, N], closed form (``mc_samples`` unused)."""
        w = self.w
        # (exp(w s) - 1) / w loses every digit as w -> 0: use its series there
        ratio = torch.where(w.abs() < 1e-4, s * (1 + w * s / 2), torch.expm1(w * s) / w)
        return self.base(h)[..., 0].exp() * ratio


class NeuralHawkesHead(nn.Module):
    def __init__(self, d: int, k: int):
        super().__init__()
        self.cell = nn.Linear(d, 4 * d)
        self.out = nn.Linear(d, k)

    def log_rate(self, h: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """h [B, N, d], s [B, N, S] -> log lambda_k [B, N, S, K]."""
        c, c_bar, delta, o = self.cell(h)[..., None, :].chunk(4, -1)  # each [B, N, 1, d]
        decayed = c_bar + (c - c_bar) * torch.exp(-nn.functional.softplus(delta) * s[..., None])
        pre = self.out(torch.sigmoid(o) * torch.tanh(decayed))
        return nn.functional.softplus(pre).clamp(min=1e-9).log()

    def integral(self, h: torch.Tensor, s: torch.Tensor, mc_samples: int = 8,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """h [B, N, d], s [B, N] -> Monte Carlo Lambda(s) [B, N]: s times the mean intensity at ``mc_samples``
        uniform points of (0, s] (unbiased)."""
        u = torch.rand(*s.shape, mc_samples, generator=generator, device=s.device, dtype=s.dtype) * s[..., None]
        return self.log_rate(h, u).exp().sum(-1).mean(-1) * s
