"""The compiled CPU L2 norm (rnnzoo/ops/kernels/csrc/l2_norm.c) behind rnnzoo.mixers.parts.l2norm: equal to the
PyTorch form (its reference, the fallback without the kernel) forward and backward, on contiguous inputs and on the
strided heads of a fused projection's piece, which it reads in place."""

import os
import subprocess
import sys
from unittest import mock

import pytest
import torch

from rnnzoo.mixers.parts import l2norm
from rnnzoo.ops.kernels import l2_norm as kernel
from rnnzoo.ops.kernels import native
from tests.ops.modes import kernel_missing

pytestmark = pytest.mark.skipif(kernel_missing("l2_norm"), reason="no C compiler: no compiled kernel")


def _outputs_and_grads(x):
    x = x.detach().requires_grad_()
    y = l2norm(x)
    y.backward(torch.linspace(-1, 1, y.numel(), dtype=y.dtype).view(y.shape))
    return y.detach(), x.grad


def _reference(x):
    with mock.patch.object(native, "available", return_value=False):
        return _outputs_and_grads(x)


@pytest.mark.parametrize("shape", [(3, 7, 4, 64), (2, 5, 13), (1, 1, 1, 8), (4, 3, 2, 1), (2, 9, 3, 20)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_kernel_equals_the_pytorch_form(shape, dtype):
    x = 3 * torch.randn(*shape, generator=torch.Generator().manual_seed(0), dtype=dtype)
    with mock.patch.object(kernel, "backward", wraps=kernel.backward) as compiled:
        fast = _outputs_and_grads(x)
    assert compiled.called
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    for a, b in zip(fast, _reference(x)):
        torch.testing.assert_close(a, b, atol=tol, rtol=tol)


@pytest.mark.parametrize("view", [
    lambda p: p[..., 16:48].view(*p.shape[:2], 4, 8),   # heads of a fused projection's piece
    lambda p: p[..., 5:12],                             # an odd-sized piece, rows of one
    lambda p: p.transpose(0, 1)[..., :24].unflatten(-1, (3, 8)),  # leading dims that do not merge: copied
])
def test_strided_pieces_are_read_in_place_or_copied(view):
    p = torch.randn(3, 6, 50, generator=torch.Generator().manual_seed(1))
    x = view(p)
    fast, ref = _outputs_and_grads(x), _reference(x)
    for a, b in zip(fast, ref):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_rows_addresses_a_piece_without_copying():
    p = torch.randn(2, 5, 40)
    x = p[..., 8:32].view(2, 5, 3, 8)
    same, m, s = native.rows(x)
    assert same is x and (m, s) == (3, 40)
    rows = x.reshape(-1, 8)
    flat = p.flatten()
    for i in (0, 4, 14):
        start = x.storage_offset() + (i // m) * s + (i % m) * 8
        torch.testing.assert_close(flat[start:start + 8], rows[i])


def test_backward_writes_into_a_slice_of_a_larger_gradient():
    x = torch.randn(2, 5, 3, 8)
    y, r = kernel.forward(x, 1e-6)
    g = torch.randn_like(y)
    buf = torch.zeros(2, 5, 40)
    out = buf[..., 8:32].view(2, 5, 3, 8)
    kernel.backward(g, y, r, out=out)
    torch.testing.assert_close(out, kernel.backward(g, y, r))
    assert buf[..., :8].eq(0).all() and buf[..., 32:].eq(0).all()
    with pytest.raises(ValueError, match="cannot be written in place"):
        kernel.backward(g, y, r, out=torch.zeros(5, 2, 3, 8).transpose(0, 1))


def test_the_reference_gradient_is_right():
    x = torch.randn(2, 3, 5, dtype=torch.float64, requires_grad=True)
    with mock.patch.object(native, "available", return_value=False):
        assert torch.autograd.gradcheck(l2norm, (x,))


def test_without_the_kernel_the_pytorch_form_runs():
    code = ("import torch; from rnnzoo.mixers.parts import l2norm; from rnnzoo.ops.kernels import native; "
            "x = torch.randn(2, 3, 8, requires_grad=True); y = l2norm(x); y.sum().backward(); "
            "assert not native.available('l2_norm', x) and y.grad_fn.name() == 'MulBackward0', y.grad_fn.name()")
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "RNNZOO_NATIVE": "0"})
