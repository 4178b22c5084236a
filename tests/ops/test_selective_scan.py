"""Selective scan (Mamba S6): chunked form == mamba_ssm's reference loop, forward and backward."""

import contextlib
import importlib
from unittest import mock

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnzoo.ops.kernels import native
from rnnzoo.ops.kernels import selective_scan as kernel_module
from rnnzoo.ops.selective_scan import selective_scan, signed_selective_scan
from tests.ops.modes import close, gradcheck, outputs_and_grads

ss_module = importlib.import_module("rnnzoo.ops.selective_scan")  # rnnzoo.ops.selective_scan is the function


def _inputs(batch, dim, n, length, bc, dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g, dtype=dtype)  # noqa: E731
    shapes = {"const": (dim, n), "shared": (batch, n, length), "grouped": (batch, 2, n, length)}
    return dict(u=r(batch, dim, length), delta=torch.rand(batch, dim, length, generator=g, dtype=dtype) * 0.5,
                A=-torch.rand(dim, n, generator=g, dtype=dtype) * 4, B=r(*shapes[bc]), C=r(*shapes[bc]),
                D=r(dim), z=r(batch, dim, length), delta_bias=r(dim) * 0.1,
                initial_state=r(batch, dim, n))


def _run(inputs, mode, fn=selective_scan, **kw):
    def loss(out):
        out, last = out
        g = torch.Generator().manual_seed(1)
        return (out * torch.randn(out.shape, generator=g, dtype=out.dtype)).sum() + (last ** 2).sum()

    (out, last), grads = outputs_and_grads(fn, inputs, loss, return_last_state=True, mode=mode, **kw)
    return {"out": out, "last": last, **{f"d{k}": gr for k, gr in zip(inputs, grads)}}


@contextlib.contextmanager
def _block_tokens(tokens, batch, dim, n):
    """Patch the fused scan's time block to ``tokens`` tokens and its tiles to two blocks (the defaults keep
    small tests in one block)."""
    with mock.patch.object(ss_module, "_BLOCK_ELEMS", tokens * batch * dim * n), \
            mock.patch.object(ss_module, "_TILE_BLOCKS", 2):
        yield


@settings(max_examples=10, deadline=None)
@given(batch=st.integers(1, 2), length=st.integers(1, 70), n=st.integers(1, 5),
       bc=st.sampled_from(["const", "shared", "grouped"]), softplus=st.booleans(),
       drop=st.sets(st.sampled_from(["D", "z", "delta_bias", "initial_state"])),
       block=st.sampled_from([1, 3, 8, 1000]), signed=st.booleans())
def test_chunk_matches_reference(batch, length, n, bc, softplus, drop, block, signed):
    # float64: the two forms are the same arithmetic up to rounding; in float32, without softplus a negative
    # delta grows the signed state over 70 steps and rounding alone reached 3e-5 of scale (hypothesis,
    # length 50, block 1), so float32 is checked on fixed shapes by the tests below
    inputs = _inputs(batch, 4, n, length, bc, dtype=torch.float64)
    for k in drop:
        del inputs[k]
    fn = signed_selective_scan if signed else selective_scan
    with _block_tokens(block, batch, 4, n):
        got = _run(inputs, "chunk", fn, delta_softplus=softplus)
    want = _run(inputs, "recurrent", fn, delta_softplus=softplus)
    assert got.keys() == want.keys()
    for k in want:  # relative to scale
        close(got[k], want[k], 1e-10)


@pytest.mark.parametrize("signed", [False, True])
def test_strong_decays_underflow_exactly(signed):
    # delta * A down to -1e4 per step: exp underflows to 0 (or the signed transition to -1), as in the loop
    inputs = _inputs(2, 4, 3, 37, "shared")
    inputs["delta"] = inputs["delta"] * 400
    inputs["A"] = inputs["A"] * 10
    fn = signed_selective_scan if signed else selective_scan
    with _block_tokens(5, 2, 4, 3):
        got = _run(inputs, "chunk", fn)
    want = _run(inputs, "recurrent", fn)
    for k in want:
        assert torch.isfinite(got[k]).all(), k
        close(got[k], want[k], 1e-5)  # relative to each tensor's scale: delta up to 200 makes grads ~1e6


def test_signed_transition_flips_the_state():
    # 2 exp(delta A) - 1 with delta A = log(0.25): a = -0.5, so h = -0.5 h + delta B u
    u, A, B, C = torch.ones(1, 1, 3), torch.tensor([[-1.0]]), torch.ones(1, 1), torch.ones(1, 1)
    delta = torch.full((1, 1, 3), -torch.log(torch.tensor(0.25)).item())
    for mode in ("recurrent", "chunk"):
        y = signed_selective_scan(u, delta, A, B, C, mode=mode)
        d = delta[0, 0, 0].item()
        torch.testing.assert_close(y.flatten(), torch.tensor([d, 0.5 * d, 0.75 * d]))


@pytest.mark.parametrize("signed", [False, True])
@pytest.mark.parametrize("bc", ["const", "shared", "grouped"])
def test_gradcheck_float64(signed, bc):
    inputs = _inputs(1, 4, 2, 6, bc, torch.float64)
    fn = signed_selective_scan if signed else selective_scan
    with _block_tokens(4, 1, 4, 2):  # two blocks: 4 + 2 tokens
        assert gradcheck(fn, inputs, delta_softplus=True, return_last_state=True, mode="chunk")


def test_reference_matches_the_equations_by_hand():
    # one channel, one state: h_t = exp(delta A) h_{t-1} + delta B_t u_t, y = C_t h_t + D u_t, out = y silu(z)
    inputs = _inputs(1, 4, 1, 5, "shared")
    u, d, A, B, C = (inputs[k] for k in "u delta A B C".split())
    h, ys = torch.zeros(4), []
    for t in range(5):
        h = torch.exp(d[0, :, t] * A[:, 0]) * h + d[0, :, t] * B[0, 0, t] * u[0, :, t]
        ys.append(C[0, 0, t] * h + inputs["D"] * u[0, :, t])
    want = torch.stack(ys, -1)[None] * F.silu(inputs["z"])
    for mode in ("recurrent", "chunk"):
        out = selective_scan(u, d, A, B, C, D=inputs["D"], z=inputs["z"], mode=mode)
        torch.testing.assert_close(out, want)


def test_returns_output_only_unless_last_state_requested():
    inputs = _inputs(2, 4, 3, 9, "shared")
    out = selective_scan(inputs["u"], inputs["delta"], inputs["A"], inputs["B"], inputs["C"])
    assert isinstance(out, torch.Tensor) and out.shape == (2, 4, 9)


def test_split_sequence_with_initial_state_equals_whole():
    inputs = _inputs(2, 4, 3, 12, "grouped")
    core = {k: inputs[k] for k in ("u", "delta", "A", "B", "C")}
    whole = selective_scan(**core)
    first = {k: (v[..., :5] if v.dim() > 2 else v) for k, v in core.items()}
    second = {k: (v[..., 5:] if v.dim() > 2 else v) for k, v in core.items()}
    y1, h = selective_scan(**first, return_last_state=True)
    y2 = selective_scan(**second, initial_state=h)
    torch.testing.assert_close(torch.cat((y1, y2), -1), whole)


@pytest.mark.parametrize("change,match", [
    (dict(delta=torch.randn(2, 4, 8)), "delta"),
    (dict(A=torch.randn(5, 3)), "A must"),
    (dict(B=torch.randn(2, 3, 3, 9)), "B must"),
    (dict(A=torch.randn(4, 3, dtype=torch.complex64)), "real"),
    (dict(D=torch.randn(3)), "D must"),
    (dict(u=torch.randn(2, 4, 0), delta=torch.randn(2, 4, 0), B=torch.randn(2, 3, 0), C=torch.randn(2, 3, 0)),
     "empty time dimension"),
])
def test_bad_shapes_raise(change, match):
    inputs = {k: v for k, v in _inputs(2, 4, 3, 9, "shared").items() if k in ("u", "delta", "A", "B", "C")}
    with pytest.raises(ValueError, match=match):
        selective_scan(**{**inputs, **change})


def test_time_major_inputs_give_the_same_results_in_their_layout():
    # the mamba mixer passes transposed views of [B, L, D] activations; z as a strided half of a projection
    inputs = _inputs(2, 6, 3, 21, "shared")
    time_major = dict(inputs)
    for k in ("u", "delta"):
        time_major[k] = inputs[k].transpose(1, 2).contiguous().transpose(1, 2)
    time_major["z"] = torch.cat((inputs["z"].transpose(1, 2), torch.zeros(2, 21, 6)), -1)[..., :6].transpose(1, 2)
    leaves = {k: v.detach().clone().requires_grad_() for k, v in time_major.items()}
    out, last = selective_scan(**leaves, delta_softplus=True, return_last_state=True)
    assert out.transpose(1, 2).is_contiguous()
    (out * torch.randn(out.shape, generator=torch.Generator().manual_seed(1))).sum().backward()
    assert leaves["u"].grad.transpose(1, 2).is_contiguous()
    want = _run(inputs, "chunk", delta_softplus=True)
    with _block_tokens(4, 2, 6, 3):
        got = _run(time_major, "chunk", delta_softplus=True)
    for k in want:
        close(got[k], want[k], 1e-5)


# ---- the compiled CPU kernel (mode="kernel"; rnnzoo/ops/kernels/csrc/selective_scan.c) ----

needs_kernel = pytest.mark.skipif(not native.available("selective_scan", torch.zeros(1)),
                                  reason="no C compiler here: the compiled kernel is unavailable")


def _time_major(inputs):
    """The mixer's layout: u, delta, z as transposed views of [B, L, D] tensors."""
    return {k: (v.transpose(1, 2).contiguous().transpose(1, 2) if k in ("u", "delta", "z") else v)
            for k, v in inputs.items()}


@needs_kernel
@settings(max_examples=25, deadline=None)
@given(batch=st.integers(1, 2), dim=st.sampled_from([4, 20]), length=st.integers(1, 70),
       n=st.sampled_from([1, 3, 16, 32]), bc=st.sampled_from(["const", "shared", "grouped"]),
       softplus=st.booleans(), drop=st.sets(st.sampled_from(["D", "z", "delta_bias", "initial_state"])),
       segment=st.sampled_from([16, 32, 256]), signed=st.booleans(), time_major=st.booleans())
def test_kernel_matches_reference(batch, dim, length, n, bc, softplus, drop, segment, signed, time_major):
    # n = 16 and 32 run the vectorised float32 loops, n = 1, 3 the plain ones; dim 20 puts a bundle of 16
    # channels across two batch rows; segments of 16 and 32 steps cut T = 70 into several cache blocks
    inputs = _inputs(batch, dim, n, length, bc)
    for k in drop:
        del inputs[k]
    fn = signed_selective_scan if signed else selective_scan
    with mock.patch.object(kernel_module, "SEGMENT", segment):
        got = _run(_time_major(inputs) if time_major else inputs, "kernel", fn, delta_softplus=softplus)
    want = _run(inputs, "recurrent", fn, delta_softplus=softplus)
    assert got.keys() == want.keys()
    for k in want:
        close(got[k], want[k], 1e-5)


@needs_kernel
@pytest.mark.parametrize("n", [2, 16])
@pytest.mark.parametrize("signed", [False, True])
def test_kernel_strong_decays_underflow(n, signed):
    # delta * A down to -1e4: the float32 exp returns 0 below -87.3, as the loop's exp underflows
    inputs = _inputs(2, 4, n, 37, "shared")
    inputs["delta"] = inputs["delta"] * 400
    inputs["A"] = inputs["A"] * 10
    fn = signed_selective_scan if signed else selective_scan
    got, want = _run(inputs, "kernel", fn), _run(inputs, "recurrent", fn)
    for k in want:
        assert torch.isfinite(got[k]).all(), k
        close(got[k], want[k], 1e-5)


@needs_kernel
@pytest.mark.parametrize("signed", [False, True])
@pytest.mark.parametrize("bc", ["const", "shared", "grouped"])
def test_kernel_gradcheck_float64(signed, bc):
    inputs = _inputs(1, 4, 2, 6, bc, torch.float64)
    fn = signed_selective_scan if signed else selective_scan
    assert gradcheck(fn, inputs, delta_softplus=True, return_last_state=True, mode="kernel")


@needs_kernel
def test_auto_takes_the_kernel_on_cpu_and_chunk_without_it():
    inputs = {k: v for k, v in _inputs(2, 4, 3, 9, "shared").items() if k in ("u", "delta", "A", "B", "C")}
    with mock.patch.object(ss_module, "kernel_scan", wraps=ss_module.kernel_scan) as kernel, \
            mock.patch.object(ss_module._SelectiveScanFn, "apply", wraps=ss_module._SelectiveScanFn.apply) as chunk:
        selective_scan(**inputs)
        assert kernel.call_count == 1 and chunk.call_count == 0
        with mock.patch.object(native, "available", return_value=False):
            selective_scan(**inputs)
        assert kernel.call_count == 1 and chunk.call_count == 1


def test_kernel_mode_names_why_it_cannot_run():
    inputs = {k: v for k, v in _inputs(2, 4, 3, 9, "shared").items() if k in ("u", "delta", "A", "B", "C")}
    with mock.patch.object(native, "_build", return_value=(None, "no C compiler found")):
        with pytest.raises(RuntimeError, match="no C compiler found"):
            selective_scan(**inputs, mode="kernel")
    meta = {k: v.to("meta") for k, v in inputs.items()}
    with pytest.raises(ValueError, match="CPU float32/float64"):
        selective_scan(**meta, mode="kernel")


@needs_kernel
def test_kernel_checks_every_input_device():
    # delta elsewhere than u (here: the meta device) is an error, not a pointer handed to the C code
    inputs = {k: v for k, v in _inputs(2, 4, 3, 9, "shared").items() if k in ("u", "delta", "A", "B", "C")}
    inputs["delta"] = inputs["delta"].to("meta")
    with pytest.raises(ValueError, match="CPU float32/float64"):
        selective_scan(**inputs, mode="kernel")


@needs_kernel
def test_kernel_backward_cuts_the_segments_its_forward_cut():
    # SEGMENT changed between forward and backward: the backward pass must still use the forward's segments
    inputs = _inputs(1, 4, 16, 70, "shared")
    leaves = {k: v.detach().clone().requires_grad_() for k, v in inputs.items()}
    with mock.patch.object(kernel_module, "SEGMENT", 64):
        out = selective_scan(**leaves, mode="kernel")
    with mock.patch.object(kernel_module, "SEGMENT", 16):
        grads = torch.autograd.grad(out.sum(), list(leaves.values()))
    ref = {k: v.detach().clone().requires_grad_() for k, v in inputs.items()}
    want = torch.autograd.grad(selective_scan(**ref, mode="recurrent").sum(), list(ref.values()))
    for g, w in zip(grads, want):
        close(g, w, 1e-5)


@needs_kernel
def test_second_derivatives_through_the_kernel_are_refused():
    inputs = {k: v.detach().clone().requires_grad_() for k, v in _inputs(1, 4, 3, 9, "shared").items()}
    out = selective_scan(**inputs, mode="kernel")
    (du,) = torch.autograd.grad(out.sum(), [inputs["u"]], create_graph=True)
    with pytest.raises(RuntimeError, match="once_differentiable"):
        du.sum().backward()
