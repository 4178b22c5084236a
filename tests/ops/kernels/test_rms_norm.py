"""The compiled CPU RMSNorm (rnnzoo/ops/kernels/csrc/rms_norm.c) behind rnnzoo.mixers.norms.rms_norm: equal to the
PyTorch form (its reference, the fallback without the kernel) forward and backward, grouped weights included; and
the gated norms (norm then gate, and Mamba-2's gate then norm) likewise, the gate read in place."""

import os
import subprocess
import sys
from unittest import mock

import pytest
import torch

from rnnzoo.mixers.norms import GatedRMSNorm, gated_rms_norm, rms_norm
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


def _gated_outputs_and_grads(x, z, w, norm_before_gate):
    x, z, w = (t.detach().requires_grad_() for t in (x, z, w))
    y = gated_rms_norm(x, z, w, 1e-5, norm_before_gate)
    y.backward(torch.linspace(-1, 1, y.numel(), dtype=y.dtype).view(y.shape))
    return y.detach(), x.grad, z.grad, w.grad


@pytest.mark.parametrize("shape,wshape", [((3, 7, 4, 128), (128,)), ((2, 5, 13), (13,)), ((2, 5, 4, 24), (4, 24)),
                                          ((1, 1, 8), (8,)), ((2, 3, 3, 1), (1,))])
@pytest.mark.parametrize("norm_before_gate", [True, False])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_gated_kernel_equals_the_pytorch_form(shape, wshape, norm_before_gate, dtype):
    gen = torch.Generator().manual_seed(0)
    x, z = (3 * torch.randn(*shape, generator=gen, dtype=dtype) for _ in range(2))
    w = torch.rand(*wshape, generator=gen, dtype=dtype) + 0.5
    with mock.patch.object(kernel, "gated_backward", wraps=kernel.gated_backward) as compiled:
        fast = _gated_outputs_and_grads(x, z, w, norm_before_gate)
    assert compiled.called
    with mock.patch.object(native, "available", return_value=False):
        ref = _gated_outputs_and_grads(x, z, w, norm_before_gate)
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    for a, b in zip(fast, ref):
        torch.testing.assert_close(a, b, atol=tol, rtol=tol)


@pytest.mark.parametrize("norm_before_gate", [True, False])
def test_gated_norm_reads_the_gate_of_a_fused_projection_in_place(norm_before_gate):
    gen = torch.Generator().manual_seed(2)
    p = torch.randn(2, 6, 70, generator=gen)
    x, z = torch.randn(2, 6, 3, 16, generator=gen), p[..., 20:68].view(2, 6, 3, 16)
    norm = GatedRMSNorm(16, eps=1e-5, norm_before_gate=norm_before_gate)
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)
    fast = norm(x, z)
    with mock.patch.object(native, "available", return_value=False):
        ref = norm(x, z)
    torch.testing.assert_close(fast, ref, atol=1e-5, rtol=1e-5)
    assert native.rows(z)[0] is z  # read where it lies


def test_the_gated_reference_gradients_are_right():
    gen = torch.Generator().manual_seed(3)
    x, z = (torch.randn(2, 3, 6, generator=gen, dtype=torch.float64, requires_grad=True) for _ in range(2))
    w = (torch.rand(6, generator=gen, dtype=torch.float64) + 0.5).requires_grad_()
    with mock.patch.object(native, "available", return_value=False):
        for norm_before_gate in (True, False):
            assert torch.autograd.gradcheck(lambda *a: gated_rms_norm(*a, 1e-5, norm_before_gate), (x, z, w))


def test_without_the_kernel_the_gated_pytorch_form_runs():
    code = ("import torch; from rnnzoo.mixers.norms import gated_rms_norm; from rnnzoo.ops.kernels import native; "
            "x, z, w = torch.randn(2, 3, 8), torch.randn(2, 3, 8), torch.ones(8, requires_grad=True); "
            "y = gated_rms_norm(x, z, w, 1e-5); y.sum().backward(); "
            "assert not native.available('rms_norm', x) and y.grad_fn.name() == 'MulBackward0', y.grad_fn.name()")
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "RNNZOO_NATIVE": "0"})
