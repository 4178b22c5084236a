"""The compiled CPU rotary embedding (rnnzoo/ops/kernels/csrc/rotary.c) behind rnnzoo.ops.rotary.apply_rotary:
equal to the PyTorch form (its reference, the fallback without the kernel) forward and backward, on contiguous
heads and on the strided heads of a fused projection's piece, which it reads in place."""

import os
import subprocess
import sys
from unittest import mock

import pytest
import torch

from rnnzoo.ops.kernels import native
from rnnzoo.ops.kernels import rotary as kernel
from rnnzoo.ops.rotary import apply_rotary
from tests.ops.modes import kernel_missing

pytestmark = pytest.mark.skipif(kernel_missing("rotary"), reason="no C compiler: no compiled kernel")


def _outputs_and_grads(x, positions):
    x = x.detach().requires_grad_()
    y = apply_rotary(x, positions, 500.0)
    y.backward(torch.linspace(-1, 1, y.numel(), dtype=y.dtype).view(y.shape))
    return y.detach(), x.grad


def _reference(x, positions):
    with mock.patch.object(native, "available", return_value=False):
        return _outputs_and_grads(x, positions)


@pytest.mark.parametrize("shape", [(3, 7, 4, 64), (2, 5, 3, 14), (1, 1, 1, 2), (2, 9, 1, 6)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_kernel_equals_the_pytorch_form(shape, dtype):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(*shape, generator=gen, dtype=dtype)
    positions = torch.randint(0, 3000, shape[:2], generator=gen)
    with mock.patch.object(kernel, "rotate", wraps=kernel.rotate) as compiled:
        fast = _outputs_and_grads(x, positions)
    assert compiled.call_count == 2  # forward and backward
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    for a, b in zip(fast, _reference(x, positions)):
        torch.testing.assert_close(a, b, atol=tol, rtol=tol)


def test_the_heads_of_a_fused_projection_are_read_in_place():
    p = torch.randn(2, 6, 70, generator=torch.Generator().manual_seed(1))
    x = p[..., 10:58].view(2, 6, 4, 12)
    assert native.rows(x)[0] is x
    positions = torch.arange(6).expand(2, 6) + torch.tensor([[0], [5]])
    for a, b in zip(_outputs_and_grads(x, positions), _reference(x, positions)):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_the_reference_gradient_is_right():
    x = torch.randn(2, 3, 2, 6, dtype=torch.float64, requires_grad=True)
    positions = torch.arange(3).expand(2, 3)
    with mock.patch.object(native, "available", return_value=False):
        assert torch.autograd.gradcheck(lambda t: apply_rotary(t, positions), (x,))


def test_without_the_kernel_the_pytorch_form_runs():
    code = ("import torch; from rnnzoo.ops.rotary import apply_rotary; from rnnzoo.ops.kernels import native; "
            "x = torch.randn(2, 3, 2, 8, requires_grad=True); y = apply_rotary(x, torch.arange(3).expand(2, 3)); "
            "y.sum().backward(); assert not native.available('rotary', x) and y.grad_fn.name() == 'CatBackward0', "
            "y.grad_fn.name()")
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "RNNZOO_NATIVE": "0"})
