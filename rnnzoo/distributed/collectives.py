"""The two collectives of LASP-2 as autograd functions, each one all-gather forward and one backward.

- ``prefix_states``: every rank r holds its chunk's state transition T_r and contribution b_r
  (S_end = T_r(S_start) + b_r); one all-gather of these fixed-size tensors gives rank r its prefix state
  P_r = T_{r-1}(... T_0(S_0) + b_0 ...) + b_{r-1}. Backward is the reverse scan: with G_j = dL/dP_j from
  every rank (one all-gather of state gradients), lambda_j = G_j + T_j^T lambda_{j+1}, and
  dL/db_r = lambda_{r+1}, dL/dT_r = lambda_{r+1} (x) P_r, dL/dS_0 = lambda_0 (returned on rank 0 only, so
  that summing gradients over ranks, as for parameters, counts it once).
- ``gather_chunks``: the keys and values of attention layers (LASP-2H), chunks of unequal length padded
  to the longest for the all-gather; backward sums every rank's gradient of this rank's chunk.

A transition is ``"diagonal"`` (T_r same shape as the state, applied elementwise) or ``"matrix"``
(T_r [..., K, K] applied on the left of a state [..., K, V]).
"""

from __future__ import annotations

import torch
import torch.distributed as dist

# torch >= 2.10 names it all_gather_single and deprecates the old name
_all_gather_single = getattr(dist, "all_gather_single", None) or dist.all_gather_into_tensor


def _apply(kind: str, t: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    return t * s if kind == "diagonal" else t @ s


def _apply_transposed(kind: str, t: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    return t * s if kind == "diagonal" else t.transpose(-1, -2) @ s


def _transition_grad(kind: str, lam: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    return lam * p if kind == "diagonal" else lam @ p.transpose(-1, -2)


def _all_gather_flat(tensors: list[torch.Tensor], group) -> list[list[torch.Tensor]]:
    """One all-gather of the concatenated tensors -> per rank, the tensors in their shapes."""
    flat = torch.cat([t.reshape(-1) for t in tensors])
    out = flat.new_empty(dist.get_world_size(group) * flat.numel())
    _all_gather_single(out, flat, group=group)
    out = out.view(-1, flat.numel())
    sizes = [t.numel() for t in tensors]
    return [[c.view_as(t) for c, t in zip(row.split(sizes), tensors)] for row in out]


class _PrefixStates(torch.autograd.Function):
    @staticmethod
    def forward(ctx, group, kinds, *tensors):
        n = len(kinds)
        inits, transitions, contributions = tensors[:n], tensors[n:2 * n], tensors[2 * n:]
        rank = dist.get_rank(group)
        gathered = _all_gather_flat([*transitions, *contributions], group)  # [rank][slot]
        prefixes = [list(inits)]
        for j in range(rank):
            prefixes.append([_apply(k, gathered[j][i], p) + gathered[j][n + i]
                             for i, (k, p) in enumerate(zip(kinds, prefixes[-1]))])
        ctx.group, ctx.kinds, ctx.rank = group, kinds, rank
        ctx.gathered_transitions = [row[:n] for row in gathered]
        ctx.save_for_backward(*prefixes[-1])
        return tuple(prefixes[-1])

    @staticmethod
    def backward(ctx, *grads):
        kinds, rank = ctx.kinds, ctx.rank
        own_prefix = ctx.saved_tensors
        gathered = _all_gather_flat([g.contiguous() for g in grads], ctx.group)  # G_j for every rank j
        world = len(gathered)
        lam = list(gathered[world - 1])
        for j in range(world - 2, rank, -1):  # lambda_j = G_j + T_j^T lambda_{j+1}, down to lambda_{rank+1}
            lam = [g + _apply_transposed(k, t, l)
                   for k, g, t, l in zip(kinds, gathered[j], ctx.gathered_transitions[j], lam)]
        if rank < world - 1:
            d_transition = [_transition_grad(k, l, p) for k, l, p in zip(kinds, lam, own_prefix)]
            d_contribution = lam
        else:  # the last chunk's end state feeds no other rank
            d_transition = [torch.zeros_like(t) for t in ctx.gathered_transitions[rank]]
            d_contribution = [torch.zeros_like(g) for g in grads]
        if rank > 0:
            d_init = [torch.zeros_like(g) for g in grads]
        elif world == 1:
            d_init = list(grads)
        else:  # lambda_0 = G_0 + T_0^T lambda_1
            d_init = [g + _apply_transposed(k, t, l) for k, g, t, l in zip(kinds, grads, ctx.gathered_transitions[0], lam)]
        return (None, None, *d_init, *d_transition, *d_contribution)


def prefix_states(inits: list[torch.Tensor], transitions: list[torch.Tensor], contributions: list[torch.Tensor],
                  kinds: list[str], group=None) -> list[torch.Tensor]:
    """Each rank's state at the start of its chunk. inits: S_0 per state slot (the sequence's initial state,
    the same on every rank); transitions, contributions: this rank's T_r and b_r per slot; kinds: per slot
    ``"diagonal"`` or ``"matrix"``. One all-gather forward, one backward."""
    return list(_PrefixStates.apply(group, tuple(kinds), *inits, *transitions, *contributions))


class _GatherChunks(torch.autograd.Function):
    @staticmethod
    def forward(ctx, group, lengths, x):
        longest = max(lengths)
        padded = x.new_zeros(x.shape[0], longest, *x.shape[2:])
        padded[:, :x.shape[1]] = x
        out = x.new_empty(len(lengths) * padded.shape[0], *padded.shape[1:])
        _all_gather_single(out, padded.contiguous(), group=group)
        out = out.view(len(lengths), *padded.shape)
        ctx.group, ctx.lengths = group, lengths
        return torch.cat([out[r, :, :n] for r, n in enumerate(lengths)], 1)

    @staticmethod
    def backward(ctx, grad):
        grad = grad.contiguous()
        dist.all_reduce(grad, group=ctx.group)  # every rank's gradient of every chunk, summed
        rank = dist.get_rank(ctx.group)
        start = sum(ctx.lengths[:rank])
        return None, None, grad[:, start:start + ctx.lengths[rank]]


def gather_chunks(x: torch.Tensor, lengths: list[int], group=None) -> torch.Tensor:
    """x: this rank's chunk [B, T_r, ...] -> the whole sequence [B, sum(lengths), ...]; ``lengths`` per rank."""
    return _GatherChunks.apply(group, list(lengths), x)
