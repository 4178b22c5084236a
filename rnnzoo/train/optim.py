"""Optimiser and schedule builders that read per-parameter hints (style rule 14).

Hints a module may set on a parameter:
- ``p._no_weight_decay = True``: never decayed (Mamba's A_log, D, dt bias; set by the mixer).
- ``p._lr_scale = 0.1``: learning rate multiplier.
- ``p._lr = 1e-3``: a learning rate of its own, whatever the model's (S4's ``_optim`` lr for its SSM
  parameters; ``S4DConfig.lr``). Schedules scale it like every group's lr.
Biases, norm weights and every other parameter with fewer than 2 dims are not decayed either
(the GPT-2/nanoGPT convention); embeddings and matrices are.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def param_groups(model: nn.Module, lr: float, weight_decay: float) -> list[dict]:
    """AdamW groups keyed by (decayed?, lr); shared (tied) parameters appear once."""
    groups: dict[tuple[bool, float], list[nn.Parameter]] = {}
    seen: set[int] = set()
    for p in model.parameters():
        if not p.requires_grad or id(p) in seen:
            continue
        seen.add(id(p))
        decay = p.dim() >= 2 and not getattr(p, "_no_weight_decay", False)
        own_lr = getattr(p, "_lr", None)
        p_lr = float(own_lr) if own_lr is not None else lr * float(getattr(p, "_lr_scale", 1.0))
        groups.setdefault((decay, p_lr), []).append(p)
    return [
        {"params": ps, "weight_decay": weight_decay if decay else 0.0, "lr": p_lr}
        for (decay, p_lr), ps in sorted(groups.items())
    ]


def build_optimizer(model: nn.Module, lr: float, weight_decay: float,
                    betas: tuple[float, float] = (0.9, 0.95)) -> torch.optim.AdamW:
    return torch.optim.AdamW(param_groups(model, lr, weight_decay), lr=lr, betas=betas)


def warmup_cosine(optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int,
                  min_ratio: float = 0.1) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up from 0 to each group's lr, then cosine decay to ``min_ratio`` of it."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
