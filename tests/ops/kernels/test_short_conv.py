"""The compiled CPU short convolution (rnnzoo/ops/kernels/csrc/short_conv.c) behind
rnnzoo.mixers.short_conv.short_conv: equal to the F.conv2d form (the reference, the fallback without the kernel)
in outputs, new windows and every gradient, for strided inputs, with and without bias and SiLU."""

from unittest import mock

import pytest
import torch

from rnnzoo.mixers.short_conv import short_conv
from rnnzoo.ops.kernels import native
from rnnzoo.ops.kernels import short_conv as kernel
from tests.ops.modes import kernel_missing

pytestmark = pytest.mark.skipif(kernel_missing("short_conv"), reason="no C compiler: no compiled kernel")


def _run(x, w, b, window, activation):
    leaves = [t.detach().requires_grad_() for t in (x, w, window, *([] if b is None else [b]))]
    xs, ws, wins, *bs = leaves
    y, new = short_conv(xs[..., 1:-2], ws, bs[0] if bs else None, wins, activation)  # a strided view of x
    g = torch.linspace(-1, 1, y.numel(), dtype=y.dtype).view(y.shape)
    grads = torch.autograd.grad((y * g).sum() + (new * new).sum(), leaves)
    return (y, new, *grads)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("activation", ["silu", None])
@pytest.mark.parametrize("b,t,d,k", [(2, 9, 5, 4), (3, 2, 24, 4), (1, 1, 3, 3), (2, 6, 16, 1)])
def test_kernel_equals_the_conv2d_form(dtype, bias, activation, b, t, d, k):
    gen = torch.Generator().manual_seed(0)
    x = 3 * torch.randn(b, t, d + 3, generator=gen, dtype=dtype)
    w, window = torch.randn(d, k, generator=gen, dtype=dtype), torch.randn(b, d, k - 1, generator=gen, dtype=dtype)
    bb = torch.randn(d, generator=gen, dtype=dtype) if bias else None
    with mock.patch.object(kernel, "short_conv", wraps=kernel.short_conv) as compiled:
        fast = _run(x, w, bb, window, activation)
    assert compiled.called
    with mock.patch.object(native, "available", return_value=False):
        ref = _run(x, w, bb, window, activation)
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    for a, r in zip(fast, ref):
        torch.testing.assert_close(a, r, atol=tol, rtol=tol)
