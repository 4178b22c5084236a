"""Leave-one-out sequences -> padded tensors: training windows, evaluation batches, cloze masking.

Training data: each user's training part (all but the last two items) is cut, from its end, into windows
of ``max_len`` inputs. Next-item models predict the next item at every position of a window, so every
training item after a user's first is a target exactly once per epoch (RecBole feeds every prefix as its
own example; a causal model sees the same targets, with less left context at the start of a window).
Cloze models get a fresh random mask per batch: each item masked with probability ``mask_ratio``, at
least one per window. Rows are right-padded with ``PAD`` (inputs) and ``IGNORE`` (labels).
"""

from __future__ import annotations

import numpy as np
import torch

from rnnzoo.apps.rec.data import PAD, SequenceData
from rnnzoo.labels import IGNORE


def _pad(rows: list[np.ndarray], width: int, fill: int) -> torch.Tensor:
    out = torch.full((len(rows), width), fill, dtype=torch.long)
    for i, r in enumerate(rows):
        out[i, : len(r)] = torch.as_tensor(r)
    return out


def train_windows(data: SequenceData, cloze: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """-> (inputs [N, max_len], lengths [N], labels [N, max_len]); labels are next items (next-item
    objective, IGNORE on padding) or the inputs themselves (cloze; the mask is drawn per batch)."""
    L = data.max_len
    inputs, labels = [], []
    for s in data.train_sequences():
        end = len(s)
        while end >= (1 if cloze else 2):
            w = s[max(0, end - L - (0 if cloze else 1)): end]
            inputs.append(w if cloze else w[:-1])
            labels.append(w if cloze else w[1:])
            end -= L
    if not inputs:
        raise ValueError("no training windows: every user's training part is too short")
    lengths = torch.tensor([len(r) for r in inputs])
    return _pad(inputs, L, PAD), lengths, _pad(labels, L, IGNORE)


def eval_batch(data: SequenceData, split: str, mask_token: int | None) -> tuple[torch.Tensor, ...]:
    """-> (histories [U, T] right-padded, lengths [U], targets [U]); with ``mask_token`` the history keeps
    its last max_len - 1 items and a [MASK] is appended (BERT4Rec's test input)."""
    histories, targets = data.split(split)
    if mask_token is not None:
        histories = [np.append(h[len(h) - data.max_len + 1:], mask_token) for h in histories]
    lengths = torch.tensor([len(h) for h in histories])
    return _pad(histories, int(lengths.max()), PAD), lengths, torch.as_tensor(targets)


def mask_batch(seq: torch.Tensor, lengths: torch.Tensor, mask_ratio: float, mask_token: int,
               gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Cloze corruption of seq [B, T]: each real item -> ``mask_token`` with probability ``mask_ratio`` (at
    least one per row) -> (masked seq [B, T], labels [B, T]: the original item where masked, else IGNORE)."""
    valid = torch.arange(seq.shape[1])[None] < lengths[:, None]
    masked = (torch.rand(seq.shape, generator=gen) < mask_ratio) & valid
    empty = ~masked.any(1)
    pick = (torch.rand(len(seq), generator=gen) * lengths).long()
    masked[empty, pick[empty]] = True
    return seq.masked_fill(masked, mask_token), torch.where(masked, seq, IGNORE)


def next_item_examples(data: SequenceData, history: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Every training target with its own history, for models that encode each prefix anew (Recformer):
    -> (histories [N, history] right-padded: the up to ``history`` items before the target, lengths [N],
    targets [N]). A user's training part of n items gives n - 1 examples."""
    rows, targets = [], []
    for s in data.train_sequences():
        for t in range(1, len(s)):
            rows.append(s[max(0, t - history): t])
            targets.append(s[t])
    if not rows:
        raise ValueError("no training examples: every user's training part is too short")
    return _pad(rows, history, PAD), torch.tensor([len(r) for r in rows]), torch.as_tensor(np.array(targets))
