"""Leave-one-out sequences -> padded tensors: training windows, evaluation batches, cloze masking.

Training data: each user's training part (all but the last two items) is cut, from its end, into windows
of ``max_len`` inputs, one every ``stride`` items. Each training target (every item after a user's first)
is labelled in exactly one window, among the last ``stride`` positions of that window (all of it for the
window that reaches the user's first item), so with ``stride`` < ``max_len`` every target is predicted
from at least ``max_len - stride`` items of history, as in RecBole's prefix augmentation (every prefix of a
user's sequence, cut to its last ``max_len`` items, is a training example: the target sees up to
``max_len`` items before it, at any position). ``stride = max_len``: disjoint windows, cheapest, but the
targets at the start of a window see little history while the test input is a full window.

Cloze models draw a fresh corruption per batch (``mask_batch``): RecBole's BERT4Rec masks each item with
probability ``mask_ratio``, or, for a fraction ``last_ratio`` of the batches (RecBole's ``ft_ratio`` 0.5),
only the last item of each example, which is the test-time input (history + [MASK] at the end); here a
last-item row is a random prefix of the window ending at one of its labelled targets. Rows are right-padded
with ``PAD`` (inputs) and ``IGNORE`` (labels).
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
               gen: torch.Generator, owned: torch.Tensor | None = None, last_ratio: float = 0.0
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Cloze corruption of seq [B, T] -> (masked seq [B, T], lengths [B], labels [B, T]: the original item
    where masked, else IGNORE).

    With probability ``last_ratio`` (one draw per batch) the batch is a last-item batch: each row is cut
    after one of its ``owned`` positions ([B, T] bool; None: every real position), drawn uniformly, and
    only that last item is masked, as at test time. Otherwise each real item -> ``mask_token`` with
    probability ``mask_ratio``, at least one per row, and the lengths are unchanged."""
    valid = torch.arange(seq.shape[1])[None] < lengths[:, None]
    if last_ratio > 0 and torch.rand((), generator=gen) < last_ratio:
        owned = valid if owned is None else owned & valid
        cut = torch.multinomial(owned.float() + (~owned.any(1, keepdim=True)).float() * valid.float(), 1,
                                generator=gen)[:, 0]  # a row with no owned position picks any real one
        pos = torch.arange(seq.shape[1])[None]
        rows = torch.arange(len(seq))
        last = pos == cut[:, None]
        kept = pos <= cut[:, None]
        out = torch.where(kept, seq, PAD)
        out[rows, cut] = mask_token
        return out, cut + 1, torch.where(last, seq, IGNORE)
    masked = (torch.rand(seq.shape, generator=gen) < mask_ratio) & valid
    empty = ~masked.any(1)
    pick = (torch.rand(len(seq), generator=gen) * lengths).long()
    masked[empty, pick[empty]] = True
    return seq.masked_fill(masked, mask_token), lengths, torch.where(masked, seq, IGNORE)


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
