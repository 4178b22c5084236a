"""The compiled CPU RMSNorm (rnnzoo/ops/kernels/csrc/rms_norm.c) behind rnnzoo.mixers.norms.rms_norm: equal to the
PyTorch form (its reference, the fallback without the kernel) forward and backward, grouped weights included."""

from unittest import mock

import pytest
import torch

from rnnzoo.mixers.norms import rms_norm
from rnnzoo.ops.kernels import native
from rnnzoo.ops.kernels import rms_norm as kernel
from tests.ops.modes import kernel_missing

pytestmark = pytest.mark.skipif(kernel_missing("rms_norm"), reason="no C compiler: no compiled kernel")


def _outputs_and_grads(x, w, eps):
    x, w = x.detach().requires_grad_(), w.detach().requires_grad_()
    y = rms_norm(x, w, eps)
    y.backward(torch.linspace(-1, 1, y.numel(), dtype=y.dtype).view(y.shape))
    return y.detach(), x.grad, w.grad


@pytest.mark.parametrize("shape,wshape", [((3, 7, 256), (256,)), ((2, 5, 13), (13,)), ((2, 5, 4, 24), (4, 24)),
                                          ((1, 1, 8), (8,))])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_kernel_equals_the_pytorch_form(shape, wshape, dtype):
    gen = torch.Generator().manual_seed(0)
    x = 3 * torch.randn(*shape, generator=gen, dtype=dtype)
    w = torch.rand(*wshape, generator=gen, dtype=dtype) + 0.5
    with mock.patch.object(kernel, "backward", wraps=kernel.backward) as compiled:
        fast = _outputs_and_grads(x, w, 1e-5)
    assert compiled.called
    with mock.patch.object(native, "available", return_value=False):
        ref = _outputs_and_grads(x, w, 1e-5)
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    for a, b in zip(fast, ref):
        torch.testing.assert_close(a, b, atol=tol, rtol=tol)


def test_a_strided_input_is_read_correctly():
    x = torch.randn(4, 6, 32).transpose(0, 1)  # not contiguous
    w = torch.rand(32) + 0.5
    with mock.patch.object(native, "available", return_value=False):
        ref = rms_norm(x, w, 1e-6)
    torch.testing.assert_close(rms_norm(x, w, 1e-6), ref)
