"""Repeat-aware scoring from ACT-R's base-level activation (Anderson & Lebiere 1998; as a recommender term,
Reiter-Haas et al. 2021, *Predicting Music Relistening Behavior Using the ACT-R Framework*).

ACT-R's base-level activation of a memory chunk i is ``B_i = ln(sum_j lag_j ** -d)`` over its past uses j, with
``lag_j`` the time since use j and decay ``d`` (ACT-R's default 0.5): frequent and recent items are the most
active. Here the clock is the position in the user's sequence (the lag of the item just before the predicted one
is 1) and the term is ``ln(1 + sum_j lag_j ** -d)``, so an item never seen scores 0 instead of -inf. A
recommender adds ``w * activation`` to its item scores (``RecConfig.actr``: ``w`` learned with the model).

For the prediction at position ``t`` only items at positions ``j < t + offset`` count (offset 1 under the
next-item objective, where position t reads item t and predicts item t + 1; 0 under cloze, where position t is
itself masked), so the predicted item and everything after it never enter its activation.
"""

from __future__ import annotations

import torch


def base_level_activation(seq: torch.Tensor, n_items: int, decay: float, offset: int) -> torch.Tensor:
    """seq: [B, T] item ids (ids outside 1..n_items, i.e. padding and [MASK], are not history) -> activation
    [B, T, n_items + 1]: at [b, t, i] the term ``ln(1 + sum_j (t + offset - j) ** -decay)`` over the positions
    j < t + offset (and j <= t) where seq[b, j] == i."""
    B, T = seq.shape
    pos = torch.arange(T, device=seq.device)
    lag = (pos[:, None] + offset - pos[None, :]).float()  # [t, j]
    weight = torch.where((lag >= 1) & (pos[None, :] <= pos[:, None]), lag.clamp(min=1) ** -decay, 0.0)
    real = (seq >= 1) & (seq <= n_items)
    src = weight[None] * real[:, None, :]  # [B, t, j]: the contribution of item seq[b, j] at position t
    index = torch.where(real, seq, 0)[:, None, :].expand(B, T, T)
    summed = torch.zeros(B, T, n_items + 1, device=seq.device).scatter_add_(2, index, src)
    return torch.log1p(summed)


def base_level_activation_ref(seq: torch.Tensor, n_items: int, decay: float, offset: int) -> torch.Tensor:
    """The loop over positions and history items that ``base_level_activation`` computes in one einsum."""
    B, T = seq.shape
    out = torch.zeros(B, T, n_items + 1)
    for b in range(B):
        for t in range(T):
            for j in range(min(t + offset, T)):
                if j <= t and 1 <= int(seq[b, j]) <= n_items:
                    out[b, t, int(seq[b, j])] += (t + offset - j) ** -decay
    return torch.log1p(out)
