"""Character LMs on the standard-library corpus of ``rnnzoo lm``, for the studies that train many small ones:
the corpus as id tensors, a plain AdamW loop on random windows, and bits/char on the test split."""

from __future__ import annotations

import math
from typing import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn


def stdlib_ids() -> dict:
    """{"vocab": size, "chars": the vocabulary's characters, "train": ids [N] int64, "test": ids [M] int64} of the
    ``rnnzoo lm`` corpus."""
    from rnnzoo.apps.lm import Vocab, load_corpus

    text = load_corpus()
    vocab = Vocab.from_text(text["train"])
    return {"vocab": len(vocab), "chars": vocab.chars,
            **{s: torch.from_numpy(vocab.encode(text[s])) for s in ("train", "test")}}


def windows(ids: torch.Tensor, batch_size: int, seq_len: int, gen: torch.Generator) -> torch.Tensor:
    """``batch_size`` random windows [B, seq_len + 1] of ``ids`` (inputs and next-character targets)."""
    if len(ids) <= seq_len + 1:
        raise ValueError(f"need more than seq_len + 1 = {seq_len + 1} ids to draw windows, got {len(ids)}")
    starts = torch.randint(0, len(ids) - seq_len - 1, (batch_size, 1), generator=gen)
    return ids[starts + torch.arange(seq_len + 1)]


def train(model: nn.Module, ids: torch.Tensor, steps: int, batch_size: int, seq_len: int, lr: float, seed: int,
          params: Iterable[nn.Parameter] | None = None, stop: Callable[[], bool] | None = None) -> int:
    """AdamW (no weight decay) on random windows of ``ids``: linear warm-up over the first 10% of ``steps``, then
    cosine decay to 10% of ``lr``; gradients clipped to norm 1. ``params``: the trainable ones (default: every
    parameter that requires grad). ``stop()`` is asked before every step (a time budget). Returns the steps run."""
    params = [p for p in (model.parameters() if params is None else params) if p.requires_grad]
    if not params:
        raise ValueError("train: no trainable parameters")
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    warm = max(1, steps // 10)
    model.train()
    done = 0
    for step in range(steps):
        if stop is not None and stop():
            break
        frac = (step - warm) / max(1, steps - warm)
        for group in opt.param_groups:
            group["lr"] = lr * ((step + 1) / warm if step < warm else 0.1 + 0.45 * (1 + math.cos(math.pi * frac)))
        w = windows(ids, batch_size, seq_len, gen)
        loss = F.cross_entropy(model(w[:, :-1]).flatten(0, 1), w[:, 1:].flatten())
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        done += 1
    model.eval()
    return done


def score_bpc(model: nn.Module, test: torch.Tensor, chars: int, seq_len: int = 256) -> float:
    """Bits/char of ``model`` on the first ``chars`` characters of ``test``, in windows of ``seq_len``."""
    from rnnzoo.apps.lm import bits_per_char

    model.eval()
    return bits_per_char(model, test[:chars], seq_len=seq_len)
