"""Description-style output for LRCN: a clip shows several digits one after another and the model emits the
digits seen, in order.

Task: ``n_digits`` digits, each moving alone on the canvas for ``frames_per_digit`` frames, concatenated into
one clip of ``n_digits * frames_per_digit`` frames; the target is the digit string (e.g. frames of a 3, then
a 3, then a 7 -> "337"). The model gives every frame a distribution over the 10 digits and a blank, and is
trained with CTC (Graves et al. 2006) on the whole string: the clip carries no alignment (where one digit
ends and the next begins is the model's to find), which is what separates reading from per-segment
classification; per-position cross entropy at known segment ends would hand the model the segmentation.
Decoding: greedy, the arg-max per frame with repeats collapsed and blanks dropped (``ctc_greedy``). Two
equal digits in a row need a blank frame between their runs, which CTC training learns.

```python
frames, targets = reading_clips(images, labels, n=4, n_digits=3, frames_per_digit=4, canvas=16, seed=0)
# frames [4, 12, 1, 16, 16]; targets [4, 3] (the digits in the order shown)
log_probs = model(frames)                 # [4, 12, 11], index 10 = BLANK
ctc_loss(log_probs, targets); reading_scores(ctc_greedy(log_probs), targets)
```
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from rnnzoo.apps.vision.data import moving_digits

BLANK = 10


def reading_clips(images: torch.Tensor, labels: torch.Tensor, n: int, n_digits: int, frames_per_digit: int,
                  canvas: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` clips of ``n_digits`` digits (drawn from ``images`` by ``seed``) shown one after another, each
    moving for ``frames_per_digit`` frames: (frames [n, n_digits * frames_per_digit, 1, canvas, canvas],
    targets [n, n_digits] int64)."""
    if n_digits < 1 or frames_per_digit < 1:
        raise ValueError(f"need n_digits and frames_per_digit >= 1, got {n_digits} and {frames_per_digit}")
    frames, digits = moving_digits(images, labels, n * n_digits, frames_per_digit, canvas, 1, 1, seed)
    return frames.reshape(n, n_digits * frames_per_digit, *frames.shape[2:]), digits.reshape(n, n_digits)


def ctc_loss(log_probs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """CTC over frames, mean over clips of the per-digit loss. log_probs [B, T, 11] (log-softmax, BLANK last);
    targets [B, K] (every clip K digits)."""
    b, t, _ = log_probs.shape
    lengths = torch.full((b,), t, dtype=torch.long)
    return F.ctc_loss(log_probs.transpose(0, 1), targets, lengths, torch.full((b,), targets.shape[1], dtype=torch.long),
                      blank=BLANK, zero_infinity=True)


def ctc_greedy(log_probs: torch.Tensor) -> list[list[int]]:
    """Best path per clip: arg-max per frame, repeats collapsed, blanks dropped. [B, T, 11] -> B digit lists."""
    out = []
    for path in log_probs.argmax(-1).tolist():
        out.append([c for i, c in enumerate(path) if c != BLANK and (i == 0 or c != path[i - 1])])
    return out


def edit_distance(a: list[int], b: list[int]) -> int:
    """Levenshtein distance (insertions, deletions, substitutions) between two digit lists."""
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (x != y))
    return row[-1]


def reading_scores(pred: list[list[int]], targets: torch.Tensor) -> dict:
    """{"acc": fraction of clips read exactly, "digit_error": edit distance / target digits (summed)}."""
    true = targets.tolist()
    exact = sum(p == t for p, t in zip(pred, true)) / len(true)
    errors = sum(edit_distance(p, t) for p, t in zip(pred, true)) / sum(len(t) for t in true)
    return {"acc": exact, "digit_error": errors}
