"""Exact solvers for the combinatorial tasks: sorting, planar convex hull, travelling salesman.

```python
order = sort_order(values)               # [n] -> [n] indices, ascending
hull = convex_hull(points)               # [n, 2] -> hull vertex indices, counter-clockwise from the lowest (x, y)
tours, lengths = held_karp(points)       # [B, n, 2] -> [B, n] optimal tours from city 0, [B] their lengths
```
"""

from __future__ import annotations

import numpy as np


def check_points(points: np.ndarray, what: str = "points") -> np.ndarray:
    """[n, d] float array with n >= 1 and no repeated point; anything else is a ValueError naming the value."""
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[0] == 0:
        raise ValueError(f"{what} must be a non-empty [n, d] array, got shape {points.shape}")
    if not np.isfinite(points).all():
        raise ValueError(f"{what} contains NaN or Inf")
    uniq, first, counts = np.unique(points, axis=0, return_index=True, return_counts=True)
    if (counts > 1).any():
        dup = uniq[counts > 1][0]
        where = np.flatnonzero((points == dup).all(1)).tolist()
        raise ValueError(f"{what} has duplicate point {dup.tolist()} at indices {where}")
    return points


def sort_order(values: np.ndarray) -> np.ndarray:
    """values: [n] distinct numbers -> [n] indices that sort them ascending."""
    values = check_points(np.asarray(values, dtype=np.float64).reshape(-1, 1), "values")[:, 0]
    return np.argsort(values, kind="stable")


def cross(o: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """z of (a - o) x (b - o): > 0 when o -> a -> b turns counter-clockwise."""
    return float((a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]))


def convex_hull(points: np.ndarray) -> np.ndarray:
    """Andrew's monotone chain. points: [n, 2] distinct -> vertex indices of the hull, counter-clockwise,
    starting from the lowest (x, y) point; points on a hull edge (collinear) are not vertices."""
    points = check_points(points)
    if points.shape[1] != 2:
        raise ValueError(f"convex hull needs 2-D points [n, 2], got shape {points.shape}")
    order = np.lexsort((points[:, 1], points[:, 0]))
    if len(order) < 3:
        return order

    def chain(idx):
        out: list[int] = []
        for i in idx:
            while len(out) >= 2 and cross(points[out[-2]], points[out[-1]], points[i]) <= 0:
                out.pop()
            out.append(int(i))
        return out

    lower, upper = chain(order), chain(order[::-1])
    return np.array(lower[:-1] + upper[:-1])


def polygon_area(points: np.ndarray, idx) -> float:
    """Shoelace area of the polygon visiting ``points[idx]`` in order (0 for fewer than 3 vertices)."""
    p = np.asarray(points, dtype=np.float64)[np.asarray(idx, dtype=np.int64)]
    if len(p) < 3:
        return 0.0
    x, y = p[:, 0], p[:, 1]
    return abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))) / 2


def is_simple_polygon(points: np.ndarray, idx) -> bool:
    """Whether the closed polygon through ``points[idx]`` has >= 3 distinct vertices and no two
    non-adjacent edges that intersect."""
    idx = list(idx)
    k = len(idx)
    if k < 3 or len(set(idx)) != k:
        return False
    p = np.asarray(points, dtype=np.float64)[idx]
    for i in range(k):
        for j in range(i + 1, k):
            if j == i + 1 or (i == 0 and j == k - 1):
                continue  # adjacent edges share a vertex
            a, b, c, d = p[i], p[(i + 1) % k], p[j], p[(j + 1) % k]
            if (cross(a, b, c) * cross(a, b, d) <= 0) and (cross(c, d, a) * cross(c, d, b) <= 0):
                return False
    return True


def tour_length(points: np.ndarray, tour) -> float:
    """Length of the closed tour visiting ``points[tour]`` in order and returning to the start."""
    p = np.asarray(points, dtype=np.float64)[np.asarray(tour, dtype=np.int64)]
    return float(np.linalg.norm(p - np.roll(p, -1, axis=0), axis=1).sum())


def held_karp(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact TSP by the Held-Karp dynamic programme (1962), vectorised over a batch of instances.

    points: [B, n, 2] (or one [n, 2]) with 2 <= n <= 12 -> (tours [B, n] starting at city 0 and oriented so
    that tour[1] < tour[-1], lengths [B]). dp[S, j] = shortest path from city 0 through the set S of other
    cities ending at j; O(2^n n^2) time per instance.
    """
    points = np.asarray(points, dtype=np.float64)
    single = points.ndim == 2
    if single:
        points = points[None]
    if points.ndim != 3 or points.shape[-1] != 2:
        raise ValueError(f"held_karp needs points [B, n, 2], got shape {points.shape}")
    b, n, _ = points.shape
    if not 2 <= n <= 12:
        raise ValueError(f"held_karp solves 2 <= n <= 12 cities exactly, got n={n}")
    for i in range(b):
        check_points(points[i], f"points[{i}]")
    dist = np.linalg.norm(points[:, :, None] - points[:, None], axis=-1)  # [B, n, n]
    m = n - 1  # cities 1..n-1 are bits 0..m-1
    full = 1 << m
    dp = np.full((b, full, m), np.inf)
    parent = np.zeros((b, full, m), dtype=np.int8)
    bits = 1 << np.arange(m)
    dp[:, bits, np.arange(m)] = dist[:, 0, 1:]
    step = dist[:, 1:, 1:].transpose(0, 2, 1)  # step[b, j, k] = dist from city k+1 to city j+1
    for mask in range(1, full):
        if mask & (mask - 1) == 0:
            continue  # single cities were set above
        cand = dp[:, mask ^ bits, :] + step  # cand[b, j, k]: reach S \ {j} ending at k, then go k -> j
        cand[:, (mask & bits) == 0, :] = np.inf
        parent[:, mask] = cand.argmin(-1)
        dp[:, mask] = cand.min(-1)
    last = dp[:, full - 1] + dist[:, 1:, 0]
    lengths = last.min(-1)
    tours = np.zeros((b, n), dtype=np.int64)
    j, mask = last.argmin(-1), np.full(b, full - 1)
    rows = np.arange(b)
    for pos in range(n - 1, 0, -1):
        tours[:, pos] = j + 1
        nxt = parent[rows, mask, j].astype(np.int64)
        mask = mask ^ (1 << j)
        j = nxt
    flip = tours[:, 1] > tours[:, -1]
    tours[flip, 1:] = tours[flip, 1:][:, ::-1]
    return (tours[0], lengths[0]) if single else (tours, lengths)
