"""Character-level tagging metrics: accuracy, and per-tag precision / recall / F1 over characters
(macro F1: the unweighted mean over tags)."""

from __future__ import annotations

import numpy as np


def tag_metrics(pred: np.ndarray, gold: np.ndarray, tags: tuple[str, ...]) -> dict:
    """pred, gold [N] tag ids -> {"accuracy", "macro_f1", "f1": {tag: f1}, "support": {tag: count}}."""
    confusion = np.bincount(gold * len(tags) + pred, minlength=len(tags) ** 2).reshape(len(tags), len(tags))
    tp = np.diag(confusion).astype(float)
    precision = tp / np.maximum(confusion.sum(0), 1)
    recall = tp / np.maximum(confusion.sum(1), 1)
    f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0)
    return {"accuracy": float(tp.sum() / max(len(gold), 1)), "macro_f1": float(f1.mean()),
            "f1": dict(zip(tags, map(float, f1))), "support": dict(zip(tags, map(int, confusion.sum(1))))}
