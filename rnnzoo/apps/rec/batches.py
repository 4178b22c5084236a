"""Leave-one-out sequences -> padded tensors: training windows, evaluation batches, cloze masking.

Training data: each user's training part (all but the last two items) is cut, from its end, into windows
of ``max_len`` inputs, one every ``stride`` items. Each training target (every item after a user's first)
is labelled in exactly one window, among the last ``stride`` positions of that window (all of it for the
window that reaches the user's first item), so with ``stride`` < ``max_len`` every target is predicted
from at least ``max_len - stride`` items of history, as in RecBole's prefix augmentation (every prefix of a
user's sequence, cut to its last ``max_len`` items, is a training example: the target sees up to
``max_len`` items before it, at any position). ``stride = max_len``: disjoint windows, cheapest, but the
targets at the start of a window see little history while the test input is a full window.

Cloze models draw a fresh corruption per batch, as RecBole's BERT4Rec (its ``MaskItemSequence``) does: for a
fraction ``last_ratio`` of the batches (RecBole's ``ft_ratio`` 0.5) the batch is ``last_item_batch`` rows, each
a training target with up to ``max_len - 1`` items of its history and a [MASK] appended after them (the
test-time input: history + [MASK], nothing after; RecBole masks the last item of each of its prefixes, which
is the same row), drawn at random from every target of every user; otherwise windows with each item masked
with probability ``mask_ratio`` (``mask_batch``). Rows are right-padded with ``PAD`` (inputs) and ``IGNORE``
(labels).
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


def train_windows(data: SequenceData, cloze: bool, stride: int | None = None
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """-> (inputs [N, max_len], lengths [N], labels [N, max_len]): windows of ``max_len`` inputs ending every
    ``stride`` items (None: ``max_len``, disjoint) from the end of each training part. Labels are the next
    items (next-item objective) or the inputs themselves (cloze; the mask is drawn per batch), on the
    positions whose target this window owns (see module docstring), IGNORE elsewhere."""
    L = data.max_len
    stride = L if stride is None else stride
    if not 1 <= stride <= L:
        raise ValueError(f"stride must be in [1, max_len={L}], got {stride}")
    shift = 0 if cloze else 1  # next-item: inputs s[i] predict s[i + 1]
    inputs, labels = [], []
    for s in data.train_sequences():
        end = len(s)  # targets s[first:end] of the window ending at end are owned by it
        while end >= 1 + shift:
            start = max(0, end - L - shift)  # the window's items s[start:end]
            first = shift if start == 0 else end - stride
            w = s[start:end]
            lab = w[shift:].copy()
            lab[: first - start - shift] = IGNORE
            inputs.append(w[: len(w) - shift])
            labels.append(lab)
            if start == 0:
                break
            end -= stride
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
               gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Cloze corruption of seq [B, T] -> (masked seq [B, T], lengths [B], labels [B, T]: the original item
    where masked, else IGNORE): each real item -> ``mask_token`` with probability ``mask_ratio``, at least one
    per row."""
    valid = torch.arange(seq.shape[1])[None] < lengths[:, None]
    masked = (torch.rand(seq.shape, generator=gen) < mask_ratio) & valid
    empty = ~masked.any(1)
    pick = (torch.rand(len(seq), generator=gen) * lengths).long()
    masked[empty, pick[empty]] = True
    return seq.masked_fill(masked, mask_token), lengths, torch.where(masked, seq, IGNORE)


def last_item_batch(histories: torch.Tensor, lengths: torch.Tensor, targets: torch.Tensor, mask_token: int
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Last-item cloze rows, the test-time input: histories [B, H] right-padded (``next_item_examples`` with
    ``history = max_len - 1``), lengths [B], targets [B] -> (seq [B, H + 1]: each history with a [MASK]
    appended, lengths + 1 [B], labels [B, H + 1]: the target at the [MASK], IGNORE elsewhere)."""
    rows = torch.arange(len(histories))
    seq = torch.cat([histories, torch.full((len(histories), 1), PAD, dtype=histories.dtype)], 1)
    seq[rows, lengths] = mask_token
    labels = torch.full_like(seq, IGNORE)
    labels[rows, lengths] = targets
    return seq, lengths + 1, labels


def next_item_examples(data: SequenceData, history: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Every training target with its own history, for models that encode each prefix anew (Recformer) and
    for the cloze models' last-item rows (``last_item_batch``, with ``history = max_len - 1``):
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
