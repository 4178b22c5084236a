import pytest
import torch

from rnnzoo.apps.vision.ops import convs5_scan, convs5_scan_ref, lightnet2d, lightnet2d_ref, plstm2d, plstm2d_ref


def _grads(fn, inputs):
    inputs = [x.detach().clone().requires_grad_() for x in inputs]
    out = fn(*inputs)
    out = out[0] if isinstance(out, tuple) else out
    (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum().backward()
    return out, [torch.zeros_like(x) if x.grad is None else x.grad for x in inputs]  # None: unused (1 x 1 grid)


@pytest.mark.parametrize("mode", ["chunk", "recurrent"])
def test_convs5_scan_equals_loop(mode):
    torch.manual_seed(0)
    bu, log_a, h0 = torch.randn(2, 9, 3, 4, 5, dtype=torch.float64), -torch.rand(3, dtype=torch.float64), \
        torch.randn(2, 3, 4, 5, dtype=torch.float64)
    (x, last), (x_ref, last_ref) = convs5_scan(bu, log_a, h0, mode), convs5_scan_ref(bu, log_a, h0)
    torch.testing.assert_close(x, x_ref)
    torch.testing.assert_close(last, last_ref)
    out, grads = _grads(lambda *a: convs5_scan(*a, mode=mode), [bu, log_a, h0])
    out_ref, grads_ref = _grads(convs5_scan_ref, [bu, log_a, h0])
    for g, r in zip(grads, grads_ref):
        torch.testing.assert_close(g, r)


def _plstm_inputs(b=2, nx=3, ny=4, h=2, dk=3, dv=5, seed=0):
    g = torch.Generator().manual_seed(seed)

    def r(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64)

    return [r(b, nx, ny, h, dk), r(b, nx, ny, h, dk), r(b, nx, ny, h, dv), r(b, nx, ny, h, 2).sigmoid(),
            r(b, nx, ny, h, 2, 2).sigmoid() * 0.7, r(b, nx, ny, h, 2).sigmoid(), r(b, nx, ny, h).sigmoid()]


@pytest.mark.parametrize("shape", [(3, 4), (1, 5), (4, 1), (1, 1), (5, 5)])
def test_plstm2d_parallel_equals_topological_loop(shape):
    inputs = _plstm_inputs(nx=shape[0], ny=shape[1])
    out, grads = _grads(plstm2d, inputs)
    out_ref, grads_ref = _grads(plstm2d_ref, inputs)
    torch.testing.assert_close(out, out_ref)
    for g, r in zip(grads, grads_ref):
        torch.testing.assert_close(g, r)


def test_plstm2d_path_sum_on_a_row_is_a_linear_scan():
    """On a 1 x Y grid only the left->right transition acts: y_j = q_j^T (sum_{s<j} M_j prod T S_s k_s v_s^T
    + D_j k_j v_j^T), a gated linear attention."""
    q, k, v, s, t, m, d = _plstm_inputs(b=1, nx=1, ny=4, h=1, dk=2, dv=2)
    y = plstm2d(q, k, v, s, t, m, d)[0, 0, :, 0]
    q, k, v = q[0, 0, :, 0], k[0, 0, :, 0], v[0, 0, :, 0]
    s, t, m, d = s[0, 0, :, 0, 0], t[0, 0, :, 0, 0, 0], m[0, 0, :, 0, 0], d[0, 0, :, 0]
    for j in range(4):
        want = d[j] * (q[j] @ k[j]) * v[j]
        for src in range(j):
            want = want + m[j] * torch.prod(t[src + 1:j]) * s[src] * (q[j] @ k[src]) * v[src]
        torch.testing.assert_close(y[j], want)


def _lightnet_inputs(nx, ny, seed=0):
    g = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(2, nx, ny, 2, d, generator=g, dtype=torch.float64) for d in (3, 3, 4))
    return q, 4 * k, v  # large keys: the log-space normaliser has work to do


@pytest.mark.parametrize("shape", [(3, 4), (1, 5), (4, 1), (1, 1), (6, 6)])
def test_lightnet2d_parallel_equals_scan(shape):
    inputs = _lightnet_inputs(*shape)
    out, grads = _grads(lightnet2d, inputs)
    out_ref, grads_ref = _grads(lightnet2d_ref, inputs)
    torch.testing.assert_close(out, out_ref)
    for a, b in zip(grads, grads_ref):
        torch.testing.assert_close(a, b)


def test_lightnet2d_is_a_softmax_over_the_prefix_rectangle():
    q, k, v = _lightnet_inputs(3, 4)
    i, j = 2, 1
    w = k[:, :i + 1, :j + 1].flatten(1, 2).softmax(1)  # [B, cells, H, Dk]: per key channel over the rectangle
    s = torch.einsum("bnhc,bnhd->bhcd", w, v[:, :i + 1, :j + 1].flatten(1, 2))
    want = torch.einsum("bhc,bhcd->bhd", torch.nn.functional.silu(q[:, i, j]) / 3 ** 0.5, s)
    torch.testing.assert_close(lightnet2d(q, k, v)[:, i, j], want)
    # a row of the grid is LightNet's 1-D scan: cell (0, j) sees cells (0, 0..j) only
    torch.testing.assert_close(lightnet2d(q[:, :1], k[:, :1], v[:, :1])[:, 0], lightnet2d(q, k, v)[:, 0])


def test_lightnet2d_survives_keys_far_below_the_largest():
    q, k, v = (x.float() for x in _lightnet_inputs(4, 4))
    k = k.clone()
    k[:, 3, 3] += 200.0  # the top-left cells' prefixes hold only keys ~200 below it
    out = lightnet2d(q, k, v)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, lightnet2d_ref(q.double(), k.double(), v.double()).float())
