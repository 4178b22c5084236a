"""Sequence-parallel groups: which ranks share one sequence, and which slice of it each rank holds.

```python
group = sequence_groups(2)                       # ranks {0,1}, {2,3}, ...: this rank's group
x_local = local_chunk(x, group)                  # [B, T, D] -> this rank's contiguous [B, T_r, D]
```

A sequence of length T is cut into contiguous chunks, one per rank of the group in rank order; chunks may
be uneven (``split_sizes``). Every rank holds the same batch rows; data parallelism, if any, runs across
groups.
"""

from __future__ import annotations

import torch
import torch.distributed as dist


def sequence_groups(size: int) -> dist.ProcessGroup:
    """Split the world into groups of ``size`` consecutive ranks; returns this rank's group. Every rank must
    call it (``new_group`` is collective)."""
    world = dist.get_world_size()
    if size < 1 or world % size:
        raise ValueError(f"sequence group size {size} must be >= 1 and divide the world size {world}")
    mine = None
    for start in range(0, world, size):
        group = dist.new_group(list(range(start, start + size)))
        if start <= dist.get_rank() < start + size:
            mine = group
    return mine


def split_sizes(length: int, parts: int) -> list[int]:
    """Near-equal contiguous chunk lengths of a sequence of ``length`` over ``parts`` ranks (earlier ones longer)."""
    if parts < 1 or length < parts:
        raise ValueError(f"a sequence of length {length} cannot be split into {parts} non-empty chunks")
    return [length // parts + (r < length % parts) for r in range(parts)]


def local_chunk(x: torch.Tensor, group: dist.ProcessGroup | None = None, sizes: list[int] | None = None,
                dim: int = 1) -> torch.Tensor:
    """This rank's chunk of ``x`` along ``dim`` (time): ``sizes`` (default ``split_sizes``) per rank of ``group``."""
    parts, rank = dist.get_world_size(group), dist.get_rank(group)
    sizes = sizes if sizes is not None else split_sizes(x.shape[dim], parts)
    if len(sizes) != parts or sum(sizes) != x.shape[dim] or min(sizes) < 1:
        raise ValueError(f"chunk sizes {sizes} must be {parts} positive lengths summing to {x.shape[dim]}")
    return x.narrow(dim, sum(sizes[:rank]), sizes[rank])


def chunk_lengths(local_length: int, group: dist.ProcessGroup | None = None, device=None) -> list[int]:
    """Every rank's chunk length, in rank order (one small all-gather on ``device``: the backend's)."""
    mine = torch.tensor([local_length], dtype=torch.int64, device=device)
    out = [torch.empty_like(mine) for _ in range(dist.get_world_size(group))]
    dist.all_gather(out, mine, group=group)
    return [int(t) for t in out]
