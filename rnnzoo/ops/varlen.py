"""Packed sequences for every op: ``op(..., cu_seqlens=offsets)``, flash-linear-attention's convention.

N sequences are concatenated along time into one row (batch 1) and ``cu_seqlens`` [N+1] (int32 or int64) holds
their offsets, ``0 = cu_seqlens[0] <= ... <= cu_seqlens[N] = T``: sequence n is tokens ``[cu[n], cu[n+1])``.
The op then computes every sequence as if it were alone: states start over at every boundary,
``initial_state`` (if given) and the final state hold one row per sequence ([N, ...]), and the output keeps
the packed layout ([1, T, ...]).

How (``run_packed``): the sequences of equal length are gathered into one batch and the op runs once per
distinct length, in its own mode, on exactly the tokens and state each sequence has alone, so packed ==
alone holds by construction, with the op's own arithmetic, and costs one call per distinct length (a batch
of equal lengths is one call). Rows whose integer state tensors (positions, counts) differ are not put in the
same call either: ops like ``memory_update`` align their chunks to a position shared by the batch.

``PACKING`` (below) is the one place that says, per op, which arguments are time-indexed and are cut at the
boundaries; every other argument (per-head parameters such as ``A``, ``w``, ``r``, weights, options) is passed
to every call unchanged. Each op's module applies ``packable(name)``, which adds the ``cu_seqlens=None``
keyword and leaves the call untouched when it is None.
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass

import torch
from torch.utils import _pytree as pytree


@dataclass(frozen=True)
class Packing:
    """How an op meets ``cu_seqlens``: ``time`` its arguments indexed [B, T, ...] (time at ``time_dim``; an
    argument may hold a whole number of rows per token, e.g. ``delta_product``'s k [B, T*n, H, K]);
    ``time_if_batched`` those that are time-indexed only when they have a batch dim (rank 3 or more:
    ``selective_scan``'s B, C are [D, N] when time-invariant); ``final_flag`` the keyword asking for the final
    state ("" for ops without one, and for attention whose cache is its longer keys: packed, it has none);
    ``grow_at_end`` pads a state that grows with time (dim 1) at its end, not its start, when rows of different
    lengths are stacked (``log_linear``'s Fenwick levels: the missing levels are the highest, and empty). The first
    output is time-indexed like the inputs."""

    time: tuple[str, ...]
    time_dim: int = 1
    time_if_batched: tuple[str, ...] = ()
    final_flag: str = "output_final_state"
    grow_at_end: bool = False


_QKV = ("q", "k", "v")
_SCAN = Packing(("u", "delta", "z"), time_dim=-1, time_if_batched=("B", "C"), final_flag="return_last_state")
PACKING: dict[str, Packing] = {
    "simple_gla": Packing((*_QKV, "g")),
    "gla": Packing((*_QKV, "gk")),
    "rwkv6": Packing((*_QKV, "w")),  # u [H, K] is a parameter
    "linear_attention": Packing(_QKV),
    "mlstm": Packing((*_QKV, "i", "f")),
    "delta_rule": Packing((*_QKV, "beta")),
    "gated_delta_rule": Packing((*_QKV, "g", "beta")),
    "delta_product": Packing((*_QKV, "g", "beta")),  # k, v, beta: num_householder rows per token
    "dplr_delta_rule": Packing((*_QKV, "a", "b", "gk")),
    "iplr_delta_rule": Packing((*_QKV, "a", "b")),
    "kda": Packing((*_QKV, "g", "beta")),
    "gdn2": Packing((*_QKV, "g", "b", "w")),
    "ssd": Packing(("x", "a", "b", "c")),
    "signed_ssd": Packing(("x", "a", "b", "c")),
    "selective_scan": _SCAN,
    "signed_selective_scan": _SCAN,
    "diagonal_scan": Packing(("x", "g")),
    "signed_diagonal_scan": Packing(("x", "a")),
    "s4d_conv": Packing(("u",)),
    "aaren": Packing(("k", "v")),  # q [H, K] is a learned query
    "memory_update": Packing((*_QKV, "lr", "log_decay", "log_momentum", "gamma", "delta")),
    "elman": Packing(("x",)),
    "lstm": Packing(("x",)),
    "gru": Packing(("x",)),
    "slstm": Packing(("gx",)),
    "lmu_memory": Packing(("u",)),
    "long_conv": Packing(("u",)),
    "dilated_causal_conv": Packing(("u",)),
    "hie": Packing(("u",)),
    "chunked_attention": Packing(_QKV),
    "combiner_attention": Packing(_QKV),
    "sparse_local_attention": Packing((*_QKV, "active")),
    "routing_attention": Packing((*_QKV, "q_cluster", "k_cluster"), final_flag=""),  # keys = queries when packed
    "softmax_attention": Packing((*_QKV, "k_valid"), final_flag=""),
    "forgetting_attention": Packing((*_QKV, "g", "k_valid"), final_flag=""),
    "apply_rotary": Packing(("x", "positions"), final_flag=""),  # pointwise: positions are the caller's
    "gsa": Packing((*_QKV, "s", "g")),
    "comba": Packing((*_QKV, "p", "g", "beta")),
    "longhorn": Packing(("x", "beta", "k", "q")),
    "mamba3": Packing(("x", "a", "dt", "lam", "b", "c", "theta")),
    # offset (absolute position of the first token) is shared: every sequence runs as if alone at that offset
    "log_linear_attention": Packing((*_QKV, "g", "level_scales"), grow_at_end=True),
    "log_linear_gated_delta_rule": Packing((*_QKV, "g", "beta", "level_scales"), grow_at_end=True),
    "mesa_net": Packing((*_QKV, "g", "beta")),  # lamb [H, K] is a parameter
    "ttt_linear": Packing((*_QKV, "eta")),  # w, b, ln_weight, ln_bias, token_scale, offset are shared
    # attention with a cache: packed, the keys are the queries' (no cache); output_final_state still returns each
    # sequence's transformed keys / writes, left-padded by stack_rows
    "path_attention": Packing((*_QKV, "w", "beta", "g", "k_valid"), final_flag=""),
    "deltaformer_attention": Packing((*_QKV, "beta", "k_valid"), final_flag=""),
}


def check_cu_seqlens(cu_seqlens, total: int, who: str) -> torch.Tensor:
    """Raises a ValueError naming ``who`` unless ``cu_seqlens`` is a 1-D int32/int64 tensor of offsets from 0 to
    ``total``, non-decreasing. Returns the lengths [N] (int64, on the CPU)."""
    if not isinstance(cu_seqlens, torch.Tensor) or cu_seqlens.dtype not in (torch.int32, torch.int64):
        got = cu_seqlens.dtype if isinstance(cu_seqlens, torch.Tensor) else type(cu_seqlens).__name__
        raise ValueError(f"{who}: cu_seqlens must be an int32 or int64 tensor, got {got}")
    if cu_seqlens.dim() != 1 or cu_seqlens.numel() < 2:
        raise ValueError(f"{who}: cu_seqlens must be [N+1] offsets with N >= 1, got shape {tuple(cu_seqlens.shape)}")
    cu = cu_seqlens.detach().long().cpu()
    if cu[0] != 0 or cu[-1] != total:
        raise ValueError(f"{who}: cu_seqlens must start at 0 and end at T={total}, got {cu[0].item()} .. "
                         f"{cu[-1].item()}")
    lengths = cu.diff()
    if (lengths < 0).any():
        raise ValueError(f"{who}: cu_seqlens must be non-decreasing, got {cu.tolist()}")
    return lengths


def group_rows(lengths: torch.Tensor, state) -> list[tuple[int, torch.Tensor]]:
    """Rows that may share one call: equal length and equal integer counters [N] in the state (positions, counts;
    not integer caches such as cluster ids). lengths: [N] (CPU); state: a tree of [N, ...] tensors or None.
    Returns [(length, row indices [n] int64 CPU)]."""
    ints = [t.detach()[:, None].cpu() for t in pytree.tree_leaves(state)
            if isinstance(t, torch.Tensor) and t.dim() == 1 and not (t.is_floating_point() or t.is_complex())]
    keys = torch.cat([lengths[:, None], *ints], 1)
    unique, inverse = keys.unique(dim=0, return_inverse=True)
    return [(int(unique[i, 0]), (inverse == i).nonzero().squeeze(1)) for i in range(unique.shape[0])]


def stack_rows(parts: list, order: torch.Tensor, at_end: bool = False):
    """Final states of groups of rows -> the state of all rows in their original order. parts: trees of
    [n_g, ...] tensors; order: [N] the original row of every stacked row. A tensor that grows with time (a cache,
    dim 1) is left-padded with zeros to the longest, so its newest entries stay at the end (``at_end``: padded at
    its end instead)."""
    flat = [pytree.tree_flatten(p) for p in parts]
    inverse = torch.empty_like(order)
    inverse[order] = torch.arange(order.numel())
    leaves = []
    for tensors in zip(*(f[0] for f in flat)):
        if not isinstance(tensors[0], torch.Tensor):
            leaves.append(tensors[0])
            continue
        longest = max(t.shape[1] if t.dim() > 1 else 0 for t in tensors)
        pads = [t.new_zeros(t.shape[0], longest - t.shape[1], *t.shape[2:]) if t.dim() > 1 else None for t in tensors]
        padded = [t if pad is None or pad.shape[1] == 0 else torch.cat((t, pad) if at_end else (pad, t), 1)
                  for t, pad in zip(tensors, pads)]
        leaves.append(torch.cat(padded, 0)[inverse.to(tensors[0].device)])
    return pytree.tree_unflatten(leaves, flat[0][1])


def take_rows(state, rows: torch.Tensor):
    """The rows ``rows`` of every tensor in the tree ``state`` (None stays None)."""
    return pytree.tree_map(lambda t: t[rows.to(t.device)] if isinstance(t, torch.Tensor) else t, state)


def _time_args(spec: Packing, args: dict) -> list[str]:
    names = [n for n in spec.time if args.get(n) is not None]
    return names + [n for n in spec.time_if_batched if args.get(n) is not None and args[n].dim() >= 3]


def _to_rows(a: torch.Tensor, time_dim: int, index: torch.Tensor) -> torch.Tensor:
    """[1, ..T*r.., ...] -> [n, L*r, ...] with time back at ``time_dim``; index: [n, L*r] token offsets."""
    g = a[0].movedim(time_dim - 1 if time_dim > 0 else time_dim, 0)[index]
    return g if time_dim == 1 else g.movedim(1, time_dim)


def run_packed(op, name: str, args: dict, cu_seqlens: torch.Tensor):
    """op(**args) on the packed sequences of ``cu_seqlens`` (see the module docstring); args: the op's bound
    arguments by name."""
    spec = PACKING[name]
    times = _time_args(spec, args)
    total = args[times[0]].shape[spec.time_dim]
    lengths = check_cu_seqlens(cu_seqlens, total, name)
    if (lengths == 0).any():
        raise ValueError(f"{name}: cu_seqlens holds an empty sequence ({cu_seqlens.tolist()}); every sequence "
                         f"needs a token")
    rate = {}
    for n in times:
        a = args[n]
        if a.shape[0] != 1:
            raise ValueError(f"{name}: with cu_seqlens the sequences are packed in one row, so {n} must have "
                             f"batch 1, got shape {tuple(a.shape)}")
        if a.shape[spec.time_dim] % total:
            raise ValueError(f"{name}: {n} has {a.shape[spec.time_dim]} time steps, not a multiple of "
                             f"T={total}, shape {tuple(a.shape)}")
        rate[n] = a.shape[spec.time_dim] // total
    state = args.get("initial_state")
    for t in pytree.tree_leaves(state):
        if isinstance(t, torch.Tensor) and (t.dim() == 0 or t.shape[0] != lengths.numel()):
            raise ValueError(f"{name}: with cu_seqlens of {lengths.numel()} sequences the initial state has one "
                             f"row per sequence, got a tensor of shape {tuple(t.shape)}")
    starts = cu_seqlens.detach().long()[:-1].cpu()
    device = args[times[0]].device
    outs, positions, finals, order = [], [], [], []
    for length, rows in group_rows(lengths, state):
        call = dict(args)
        for n in times:
            r = rate[n]
            index = (starts[rows, None] * r + torch.arange(length * r)).to(device)
            call[n] = _to_rows(args[n], spec.time_dim, index)
        if state is not None:
            call["initial_state"] = take_rows(state, rows)
        result = op(**call)
        out, final = (result, None) if isinstance(result, torch.Tensor) else result
        outs.append(out.movedim(spec.time_dim, 1).flatten(0, 1))  # [n * L, ...]
        positions.append((starts[rows, None] + torch.arange(length)).flatten())
        finals.append(final)
        order.append(rows)
    inverse = torch.empty(total, dtype=torch.long)
    inverse[torch.cat(positions)] = torch.arange(total)
    out = torch.cat(outs)[inverse.to(device)].unsqueeze(0).movedim(1, spec.time_dim)
    if isinstance(result, torch.Tensor):
        return out
    return out, (None if finals[0] is None else stack_rows(finals, torch.cat(order), spec.grow_at_end))


def packable(name: str):
    """Decorator of op ``name``: adds the keyword ``cu_seqlens=None`` (packed sequences, see the module docstring)."""

    def wrap(op):
        signature = inspect.signature(op)

        @functools.wraps(op)
        def wrapper(*args, cu_seqlens=None, **kwargs):
            if cu_seqlens is None:
                return op(*args, **kwargs)
            bound = signature.bind(*args, **kwargs)
            return run_packed(op, name, dict(bound.arguments), cu_seqlens)

        extra = inspect.Parameter("cu_seqlens", inspect.Parameter.KEYWORD_ONLY, default=None)
        wrapper.__signature__ = signature.replace(parameters=[*signature.parameters.values(), extra])
        return wrapper

    return wrap
