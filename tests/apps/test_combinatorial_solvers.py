"""Exact solvers against brute force on tiny inputs."""

import itertools

import numpy as np
import pytest

from rnnzoo.apps.combinatorial.solvers import (
    convex_hull,
    held_karp,
    is_simple_polygon,
    polygon_area,
    sort_order,
    tour_length,
)


def brute_hull(points):
    """The hull edges i -> j found by testing every ordered pair, walked from the lowest (x, y) point."""
    n = len(points)
    edges = {}
    for i, j in itertools.permutations(range(n), 2):
        a, b = points[i], points[j]
        rest = [k for k in range(n) if k not in (i, j)]
        side = lambda k: (b[0] - a[0]) * (points[k][1] - a[1]) - (b[1] - a[1]) * (points[k][0] - a[0])  # noqa: E731
        along = lambda k: np.dot(b - a, points[k] - a) / np.dot(b - a, b - a)  # noqa: E731
        # every other point left of i -> j, or on it strictly between i and j (so it is not a vertex)
        if all(side(k) > 0 or (side(k) == 0 and 0 < along(k) < 1) for k in rest):
            edges[i] = j
    start = min(edges, key=lambda i: tuple(points[i]))
    cycle = [start]
    while edges[cycle[-1]] != start:
        cycle.append(edges[cycle[-1]])
    return cycle


@pytest.mark.parametrize("seed", range(30))
def test_monotone_chain_hull_equals_brute_force(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 9))
    pts = rng.random((n, 2)) if seed % 3 else rng.integers(0, 4, (n * 3, 2)).astype(float)
    pts = np.unique(pts, axis=0)[:max(3, n)]  # grid points exercise collinear ones
    rng.shuffle(pts)
    if len(pts) < 3:
        return
    hull = convex_hull(pts).tolist()
    assert hull == brute_hull(pts)
    assert is_simple_polygon(pts, hull) or len(hull) == 2  # all points collinear: a segment


def test_hull_of_square_with_inner_and_edge_points():
    pts = np.array([[0, 0], [1, 0], [1, 1], [0, 1], [0.5, 0.5], [0.5, 0]])
    assert convex_hull(pts).tolist() == [0, 1, 2, 3]
    assert polygon_area(pts, [0, 1, 2, 3]) == 1.0
    assert not is_simple_polygon(pts, [0, 2, 1, 3])  # a bow-tie
    assert not is_simple_polygon(pts, [0, 1])


@pytest.mark.parametrize("n", [3, 4, 5, 6, 7])
def test_held_karp_equals_permutation_brute_force(n):
    pts = np.random.default_rng(n).random((6, n, 2))
    tours, lengths = held_karp(pts)
    for p, tour, length in zip(pts, tours, lengths):
        best = min(tour_length(p, (0,) + perm) for perm in itertools.permutations(range(1, n)))
        assert length == pytest.approx(best, abs=1e-12)
        assert tour_length(p, tour) == pytest.approx(best, abs=1e-12)
        assert sorted(tour) == list(range(n)) and tour[0] == 0 and tour[1] < tour[-1]


def test_sort_order():
    assert sort_order(np.array([0.3, -1.0, 2.0])).tolist() == [1, 0, 2]


def test_bad_solver_input_names_the_value():
    with pytest.raises(ValueError, match=r"duplicate point \[0.5, 0.5\] at indices \[0, 2\]"):
        convex_hull(np.array([[0.5, 0.5], [0, 1], [0.5, 0.5], [1, 0]]))
    with pytest.raises(ValueError, match=r"non-empty \[n, d\] array, got shape \(0, 2\)"):
        convex_hull(np.zeros((0, 2)))
    with pytest.raises(ValueError, match="n=13"):
        held_karp(np.random.default_rng(0).random((13, 2)))
    with pytest.raises(ValueError, match="duplicate point"):
        held_karp(np.array([[[0, 0], [1, 1], [0, 0]]], dtype=float))
    with pytest.raises(ValueError, match="duplicate"):
        sort_order(np.array([1.0, 2.0, 1.0]))
