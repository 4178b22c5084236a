import pytest
import torch

from rnnzoo.apps.timeseries.scan2d import scan2d, scan2d_ref


def _inputs(B, T, V, D, seed=0):
    g = torch.Generator().manual_seed(seed)
    u = [torch.randn(B, T, V, D, generator=g, dtype=torch.float64) for _ in range(2)]
    a = [torch.rand(B, T, V, D, generator=g, dtype=torch.float64) * 0.6 for _ in range(4)]
    return [t.requires_grad_() for t in u + a]


@pytest.mark.parametrize("shape", [(2, 5, 3, 4), (1, 7, 1, 2), (2, 1, 4, 3), (1, 6, 6, 2), (3, 2, 9, 1)])
def test_parallel_equals_loop_forward_and_backward(shape):
    xs = _inputs(*shape)
    ref, fast = scan2d_ref(*xs), scan2d(*xs)
    for r, f in zip(ref, fast):
        torch.testing.assert_close(f, r)
    w1, w2 = torch.randn(shape, dtype=torch.float64), torch.randn(shape, dtype=torch.float64)
    g_ref = torch.autograd.grad((ref[0] * w1).sum() + (ref[1] * w2).sum(), xs)
    g_fast = torch.autograd.grad((fast[0] * w1).sum() + (fast[1] * w2).sum(), xs)
    for r, f in zip(g_ref, g_fast):
        torch.testing.assert_close(f, r)


def test_reference_follows_the_equations_on_a_small_grid():
    # 2 x 2 grid, D = 1, written out by hand: cell (1, 1) reads (0, 1) in time and (1, 0) across variates
    u1, u2 = torch.tensor([[1.0, 2.0], [3.0, 4.0]]), torch.tensor([[5.0, 6.0], [7.0, 8.0]])
    a1, a2, a3, a4 = (torch.full((2, 2), c) for c in (0.5, 0.25, 0.1, 0.2))
    h1, h2 = scan2d_ref(*(t[None, :, :, None] for t in (u1, u2, a1, a2, a3, a4)))
    h1, h2 = h1[0, :, :, 0], h2[0, :, :, 0]
    assert h2[0, 1] == pytest.approx(0.1 * 1 + 0.2 * 5 + 6)
    assert h1[1, 1] == pytest.approx(0.5 * h1[0, 1] + 0.25 * h2[0, 1] + 4)
    assert h2[1, 1] == pytest.approx(0.1 * h1[1, 0] + 0.2 * h2[1, 0] + 8)


def test_mismatched_shapes_are_refused():
    xs = _inputs(1, 3, 2, 2)
    with pytest.raises(ValueError, match="share one shape"):
        scan2d(xs[0][:, :2], *xs[1:])
