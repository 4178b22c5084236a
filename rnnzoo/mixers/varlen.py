"""Packed and padded batches for every mixer: ``mixer(x, cu_seqlens=...)``, ``mixer(x, mask=...)``.

Both reduce to right-padded rows of lengths L_n (``run_rows``): packed sequences are cut out of their row at
the offsets, a padded batch has each row's real tokens moved to its front (left, right and interior padding
alike). The rows of equal length (and equal position, see below) are then gathered into one batch and the
mixer's own ``_forward`` runs once per distinct length on exactly the tokens and state each row has alone. So
packed == padded == each sequence alone holds for every mixer, causal or not (a bidirectional mixer sees only
its row's real tokens), with the mixer's own arithmetic; the cost is one forward call per distinct length (a
batch of equal lengths is one call, as unpacked).

Padded positions neither write to nor decay the state, their outputs are exactly zero (and so is the gradient
that reaches their inputs), and a row's final state is its state after its last real token (a row without
one keeps its initial state).

Positions: a mixer whose state counts tokens (an integer tensor [B]: attention's ``pos``, memory mixers'
chunk alignment) may assume that all rows of a call share it. Rows at different positions (after a padded
prefill) are therefore run in groups of equal position, unless the mixer sets ``mixed_positions`` (attention
masks its cache by position). A state that grows with T (a KV cache, dim 1) is stacked over rows of different
lengths by left-padding it with zeros, its newest entries last; ``Mixer._unpad_state`` removes that padding
again for a group of rows at one position.
"""

from __future__ import annotations

import torch

from rnnzoo.ops.varlen import check_cu_seqlens, group_rows, stack_rows, take_rows


def run_rows(mixer, rows: torch.Tensor, lengths: torch.Tensor, state):
    """rows: [B, T, d] with row b's tokens at [:lengths[b]] (lengths [B] int64 on the CPU); state: [B, ...] or
    None -> (y [B, T, d], zero past each row's length; final state [B, ...])."""
    b, t, d = rows.shape
    groups = group_rows(lengths, state if state and not mixer.mixed_positions else None)
    if len(groups) == 1 and groups[0][0] == t > 0:  # every row full and at one position: the plain call
        return mixer._forward(rows, mixer._unpad_state(state) if state else state)
    ys, positions, finals, order = [], [], [], []
    for length, idx in groups:
        s = None
        if state:
            s = take_rows(state, idx)
            s = s if mixer.mixed_positions else mixer._unpad_state(s)
        if length == 0:
            final = s if s is not None else mixer.init_state(len(idx), device=rows.device, dtype=rows.dtype)
        else:
            y, final = mixer._forward(rows[idx.to(rows.device), :length], s)
            ys.append(y.flatten(0, 1))
            positions.append((idx[:, None] * t + torch.arange(length)).flatten())
        finals.append(final)
        order.append(idx)
    dtype = ys[0].dtype if ys else rows.dtype
    y = rows.new_zeros(b * t, d, dtype=dtype)
    if ys:
        y = y.index_put((torch.cat(positions).to(rows.device),), torch.cat(ys))
    return y.view(b, t, d), stack_rows(finals, torch.cat(order))


def forward_packed(mixer, x: torch.Tensor, state, cu_seqlens: torch.Tensor):
    """x: [1, T, d] holding N sequences at offsets cu_seqlens [N+1]; state [N, ...] or None -> (y [1, T, d],
    final state [N, ...])."""
    name = type(mixer).__name__
    if x.shape[0] != 1:
        raise ValueError(f"{name}: with cu_seqlens the sequences are packed in one row, so x must have batch 1, "
                         f"got shape {tuple(x.shape)}")
    lengths = check_cu_seqlens(cu_seqlens, x.shape[1], name)
    mixer._check_state(state, lengths.numel(), x)
    longest = int(lengths.max())
    if (lengths == longest).all():  # equal lengths: the packed row is a batch already
        y, final = run_rows(mixer, x.view(lengths.numel(), longest, -1), lengths, state)
        return y.reshape(x.shape), final
    steps = torch.arange(longest)
    valid = (steps[None, :] < lengths[:, None]).to(x.device)
    index = (cu_seqlens.detach().long().cpu()[:-1, None] + steps).clamp(max=x.shape[1] - 1).to(x.device)
    y, final = run_rows(mixer, x[0][index], lengths, state)  # [N, longest, d]
    return y[valid].unsqueeze(0), final


def forward_masked(mixer, x: torch.Tensor, state, mask: torch.Tensor):
    """x: [B, T, d]; mask: [B, T] bool, True = real token; state [B, ...] or None -> (y [B, T, d], zero at
    padding; final state [B, ...])."""
    name = type(mixer).__name__
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
        got = mask.dtype if isinstance(mask, torch.Tensor) else type(mask).__name__
        raise ValueError(f"{name}: mask must be a bool tensor (True = real token), got {got}")
    if tuple(mask.shape) != tuple(x.shape[:2]):
        raise ValueError(f"{name}: mask must be [B, T]={list(x.shape[:2])}, got shape {tuple(mask.shape)}")
    mixer._check_state(state, x.shape[0], x)
    mask = mask.to(x.device)
    lengths = mask.sum(1).cpu()
    longest = int(lengths.max())
    # each row's real tokens first, in order (a stable sort of "is padding")
    order = torch.sort((~mask).to(torch.uint8), dim=1, stable=True).indices[:, :longest, None]
    order = order.expand(-1, -1, x.shape[2])
    y, final = run_rows(mixer, x.gather(1, order), lengths, state)
    return torch.zeros_like(x, dtype=y.dtype).scatter(1, order, y), final


def forward_at_positions(mixer, x: torch.Tensor, state):
    """x: [B, T, d], state [B, ...] whose rows may sit at different positions -> (y, final state), the rows run
    in groups of equal position (the plain forward of a mixer without ``mixed_positions``)."""
    lengths = torch.full((x.shape[0],), x.shape[1], dtype=torch.long)
    return run_rows(mixer, x, lengths, state)


def positions_differ(state) -> bool:
    """Whether the rows of ``state`` (a tuple of [B, ...] tensors) differ in an integer counter [B]."""
    return any(t.dim() == 1 and not t.is_floating_point() and t.numel() > 1 and bool((t != t[0]).any())
               for t in state)
