"""Birdie's mixture of pre-training objectives (Blouir et al. 2024, "Birdie: Advancing State Space Models
with Reward-Driven Objectives and Curricula"), each turning a sequence x of data tokens into a prefix-LM
example (prefix, answer): the model reads ``prefix`` bidirectionally (``PrefixLM``) and generates ``answer``
causally; the loss covers the answer only. Every non-trivial prefix ends with its objective's task token.

Example, x = a b c d e f (S = sentinel, M = mask; task tokens in capitals):

    next_token          prefix: (empty)                      answer: a b c d e f    (loss from b on)
    copying             prefix: a b c d e f COPY             answer: a b c d e f
    deshuffling         prefix: d a f c e b DESHUFFLE        answer: a b c d e f
    span_corruption     prefix: a S d e S INFILL             answer: b c S f S      (each span, then S)
    selective_copying   prefix: a b c d e f SELECT a b e f   answer: c d            (what lies between the cues)
    autoencoding        prefix: a M c d M f AUTOENCODE       answer: a b c d e f

``pack`` right-pads examples into (inputs [B, T], targets [B, T], prefix_len [B]) for ``prefix_lm_loss``:
inputs = (prefix ++ answer)[:-1], targets = (prefix ++ answer)[1:] with IGNORE wherever the target lies in
the prefix (or is padding), so a target is never inside the bidirectional part of the input.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from rnnzoo.labels import IGNORE

OBJECTIVES = ("next_token", "copying", "deshuffling", "span_corruption", "selective_copying", "autoencoding")
NUM_SPECIAL = 1 + len(OBJECTIVES)  # the sentinel/mask token, then one task token per objective
CORRUPT_RATE, MEAN_SPAN, CUE = 0.15, 3, 2


def special_ids(data_vocab: int) -> dict[str, int]:
    """Token ids after the ``data_vocab`` data ids: "sentinel" (also the mask), and one task token per objective."""
    return {"sentinel": data_vocab, **{name: data_vocab + 1 + i for i, name in enumerate(OBJECTIVES)}}


def vocab_size(data_vocab: int) -> int:
    return data_vocab + NUM_SPECIAL


Example = tuple[torch.Tensor, torch.Tensor]  # (prefix [P], answer [A]) int64


def next_token(x: torch.Tensor, ids: dict, g: torch.Generator) -> Example:
    return x[:0], x


def copying(x: torch.Tensor, ids: dict, g: torch.Generator) -> Example:
    return _with_task(x, ids["copying"]), x


def deshuffling(x: torch.Tensor, ids: dict, g: torch.Generator) -> Example:
    return _with_task(x[torch.randperm(len(x), generator=g)], ids["deshuffling"]), x


def spans(length: int, g: torch.Generator) -> list[tuple[int, int]]:
    """Non-overlapping, non-adjacent spans [start, end) covering about CORRUPT_RATE of ``length`` positions, in
    order: n = max(1, round(rate * length / MEAN_SPAN)) spans of MEAN_SPAN tokens (shorter for short x)."""
    n = max(1, round(CORRUPT_RATE * length / MEAN_SPAN))
    size = max(1, min(MEAN_SPAN, length // (2 * n)))
    slots = length // (size + 1)  # slot i covers [i * (size + 1), i * (size + 1) + size): gaps keep spans apart
    chosen = torch.randperm(slots, generator=g)[:n].sort().values
    return [(int(i) * (size + 1), int(i) * (size + 1) + size) for i in chosen]


def span_corruption(x: torch.Tensor, ids: dict, g: torch.Generator) -> Example:
    return infill_example(x, spans(len(x), g), ids)


def infill_example(x: torch.Tensor, cut: list[tuple[int, int]], ids: dict) -> Example:
    """Each span [start, end) of ``cut`` replaced by the sentinel in the prefix; the answer lists every span
    followed by the sentinel."""
    s = torch.tensor([ids["sentinel"]])
    kept, answer, at = [], [], 0
    for a, b in cut:
        kept += [x[at:a], s]
        answer += [x[a:b], s]
        at = b
    kept.append(x[at:])
    return _with_task(torch.cat(kept), ids["span_corruption"]), torch.cat(answer)


def selective_copying(x: torch.Tensor, ids: dict, g: torch.Generator) -> Example:
    if len(x) < 2 * CUE + 1:
        raise ValueError(f"selective copying needs sequences of at least {2 * CUE + 1} tokens, got {len(x)}")
    length = int(torch.randint(1, max(2, len(x) // 4), (1,), generator=g)) + 2 * CUE
    length = min(length, len(x))
    start = int(torch.randint(0, len(x) - length + 1, (1,), generator=g))
    span = x[start:start + length]
    cues = torch.cat([span[:CUE], span[-CUE:]])
    return torch.cat([_with_task(x, ids["selective_copying"]), cues]), span[CUE:-CUE]


def autoencoding(x: torch.Tensor, ids: dict, g: torch.Generator) -> Example:
    masked = x.clone()
    for a, b in spans(len(x), g):
        masked[a:b] = ids["sentinel"]
    return _with_task(masked, ids["autoencoding"]), x


BUILDERS: dict[str, Callable[[torch.Tensor, dict, torch.Generator], Example]] = {
    "next_token": next_token, "copying": copying, "deshuffling": deshuffling, "span_corruption": span_corruption,
    "selective_copying": selective_copying, "autoencoding": autoencoding,
}


def _with_task(prefix: torch.Tensor, task_id: int) -> torch.Tensor:
    return torch.cat([prefix, torch.tensor([task_id])])


def make_example(objective: str, x: torch.Tensor, data_vocab: int, g: torch.Generator) -> Example:
    """The (prefix, answer) of ``objective`` on x [L] (data ids < ``data_vocab``)."""
    if objective not in BUILDERS:
        raise ValueError(f"unknown Birdie objective {objective!r}; known: {', '.join(OBJECTIVES)}")
    return BUILDERS[objective](x, special_ids(data_vocab), g)


def pack(examples: list[Example], pad_id: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Examples -> (inputs [B, T], targets [B, T], prefix_len [B]) int64, T = the longest prefix + answer - 1;
    inputs right-padded with ``pad_id``, targets IGNORE except at the answer's tokens."""
    width = max(len(p) + len(a) for p, a in examples) - 1
    inputs = torch.full((len(examples), width), pad_id, dtype=torch.long)
    targets = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    prefix_len = torch.tensor([len(p) for p, _ in examples])
    for row, (p, a) in enumerate(examples):
        full = torch.cat([p, a])
        inputs[row, :len(full) - 1] = full[:-1]
        first = max(len(p) - 1, 0)  # the position whose target is the answer's first token
        targets[row, first:len(full) - 1] = full[first + 1:]
    return inputs, targets, prefix_len


def prefix_lm_loss(model: nn.Module, batch: tuple) -> tuple[torch.Tensor, dict[str, float]]:
    """Cross-entropy over the answer tokens. batch = (inputs, targets, prefix_len[, ...]); model: ``PrefixLM``."""
    inputs, targets, prefix_len = batch[:3]
    logits = model(inputs, prefix_len)
    loss = nn.functional.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(), ignore_index=IGNORE)
    with torch.no_grad():
        mask = targets != IGNORE
        acc = ((logits.argmax(-1) == targets) & mask).sum() / mask.sum().clamp(min=1)
    return loss, {"acc": float(acc)}
