"""Metrics as EasyTPP reports them: log-likelihood per event, next-event time RMSE, next-mark accuracy.

Predictions come from the next-event density on a grid of elapsed times (0, s_max] (``grid`` points): with
Lambda(s) the cumulative trapezoid of sum_k lambda_k, f_k(s) = lambda_k(s) exp(-Lambda(s)); the predicted gap
is the mean int s f(s) ds and the predicted mark argmax_k int f_k(s) ds. The true process is scored the same
way, so its RMSE and accuracy are the floor a learned model can reach with this predictor.
"""

from __future__ import annotations

import numpy as np
import torch


def density_predictions(rates: torch.Tensor, grid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """rates [..., G, K] on ``grid`` [G] -> (expected gap [...], predicted mark [...])."""
    total = rates.sum(-1)
    widths = grid.diff(prepend=grid.new_zeros(1))
    # trapezoid from s = 0, where the rate is taken equal to the first grid point's
    steps = 0.5 * (total + torch.cat((total[..., :1], total[..., :-1]), -1)) * widths
    density = rates * torch.exp(-steps.cumsum(-1))[..., None] * widths[:, None]  # f_k(s) ds [..., G, K]
    gap = (density.sum(-1) * grid).sum(-1) / density.sum((-1, -2)).clamp(min=1e-30)
    return gap, density.sum(-2).argmax(-1)


def prediction_grid(mean_gap: float, points: int = 256) -> torch.Tensor:
    """Elapsed times up to 20 mean gaps, denser near 0 (quadratic spacing)."""
    return (torch.linspace(0, 1, points + 1)[1:] ** 2 * 20 * mean_gap).double()


def summarise(ll_per_event: float, gap_pred: np.ndarray, gaps: np.ndarray, mark_pred: np.ndarray,
              marks: np.ndarray) -> dict[str, float]:
    """Predictions and targets [M] over a split's events after the first of each sequence."""
    return {"ll_per_event": ll_per_event, "rmse": float(np.sqrt(np.mean((gap_pred - gaps) ** 2))),
            "mark_accuracy": float(np.mean(mark_pred == marks))}


def true_process_metrics(process, sequences, grid: torch.Tensor) -> dict[str, float]:
    """The true process's per-event log-likelihood, and its RMSE and mark accuracy with the grid predictor."""
    ll, preds, gaps, pmarks, marks = 0.0, [], [], [], []
    g = grid.numpy()
    for times, m in sequences:
        gap, states = process.states(times, m)
        ll += process.log_likelihood(times, m)
        rates = torch.from_numpy(process.rate(states[1:], np.broadcast_to(g, (len(times) - 1, len(g)))))
        gp, mp = density_predictions(rates, grid)
        preds.append(gp.numpy()), pmarks.append(mp.numpy()), gaps.append(gap[1:]), marks.append(m[1:])
    n = sum(len(t) for t, _ in sequences)
    return summarise(ll / n, *(np.concatenate(a) for a in (preds, gaps, pmarks, marks)))
