"""The shared rules of rnnzoo/ops/_common.py, for every op of ``rnnzoo.ops.__all__`` in every mode: non-floating
inputs and a chunk size below 1 are refused with a ValueError naming them, and under ``torch.autocast`` every op
computes as without it (autocast disabled inside), returning finite outputs in the dtype of the input it was given.
"""

import inspect

import pytest
import torch

import rnnzoo.ops
from tests.ops.modes import kernel_missing
from tests.ops.test_init import _inputs, modes

ALL_CASES = [(n, m) for n in rnnzoo.ops.__all__ for m in (modes(n) if "mode" in inspect.signature(
    getattr(rnnzoo.ops, n)).parameters else (None,))]
IDS = [f"{n}-{m}" for n, m in ALL_CASES]
MAMBA = ("selective_scan", "signed_selective_scan")


def _call(name, mode, inputs, **kwargs):
    op = getattr(rnnzoo.ops, name)
    params = inspect.signature(op).parameters
    if mode is not None:
        kwargs["mode"] = mode
    if "output_final_state" in params:
        kwargs["output_final_state"] = True
    if "return_last_state" in params:
        kwargs["return_last_state"] = True
    out = op(**inputs, **kwargs)
    return out if isinstance(out, tuple) else (out, None)


def _skip_missing_kernel(name, mode):
    if mode == "kernel" and kernel_missing("selective_scan" if name in MAMBA else "linear_attention"):
        pytest.skip("no C compiler: no compiled kernel")


def _float_leaves(x):
    if torch.is_tensor(x):
        return [x] if x.is_floating_point() or x.is_complex() else []
    if isinstance(x, tuple):
        return [t for part in x for t in _float_leaves(part)]
    return []


def _first_float(inputs):
    return next(n for n, x in inputs.items() if torch.is_tensor(x) and x.is_floating_point())


@pytest.mark.parametrize("name,mode", ALL_CASES, ids=IDS)
def test_an_integer_input_is_refused_naming_its_dtype(name, mode):
    inputs = _inputs(name, torch.float32)
    first = _first_float(inputs)
    inputs[first] = (inputs[first] * 10).long()
    with pytest.raises(ValueError, match="int64"):
        _call(name, mode, inputs)


@pytest.mark.parametrize("name,mode", ALL_CASES, ids=IDS)
def test_all_integer_inputs_are_refused_naming_their_dtype(name, mode):
    inputs = {n: (x * 10).long() if torch.is_tensor(x) and x.is_floating_point() else x
              for n, x in _inputs(name, torch.float32).items()}
    with pytest.raises(ValueError, match="int64"):
        _call(name, mode, inputs)


def test_simple_gla_refuses_int64_inputs_instead_of_returning_int64():
    inputs = {n: x.long() for n, x in _inputs("simple_gla", torch.float32).items()}
    with pytest.raises(ValueError, match="simple_gla.*floating point.*int64"):
        rnnzoo.ops.simple_gla(**inputs)


SIZED = [(n, p) for n in rnnzoo.ops.__all__ for p in ("chunk_size", "block_size")
         if p in inspect.signature(getattr(rnnzoo.ops, n)).parameters]


@pytest.mark.parametrize("size", [0, -1])
@pytest.mark.parametrize("name,param", SIZED, ids=[n for n, _ in SIZED])
def test_a_chunk_size_below_one_is_refused_naming_it(name, param, size):
    inputs = {**_inputs(name, torch.float32), param: size}
    for mode in modes(name):
        with pytest.raises(ValueError, match=param):
            _call(name, mode, inputs)


def test_ssd_chunk_size_zero_is_a_value_error():
    with pytest.raises(ValueError, match="chunk_size"):
        rnnzoo.ops.ssd(**_inputs("ssd", torch.float32), chunk_size=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("name,mode", ALL_CASES, ids=IDS)
def test_under_autocast_every_op_computes_as_without_it(name, mode, dtype):
    """Rule: under autocast the output is in the dtype of the input the op was given and the final state in
    float32, the same values as without autocast (autocast is disabled inside the op)."""
    _skip_missing_kernel(name, mode)
    inputs = _inputs(name, dtype)
    o_ref, s_ref = _call(name, mode, inputs)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        o, s = _call(name, mode, inputs)
    first = inputs[_first_float(inputs)]
    assert o.dtype == first.dtype, (o.dtype, first.dtype)
    assert torch.isfinite(o).all()
    torch.testing.assert_close(o, o_ref)
    for got, ref in zip(_float_leaves(s), _float_leaves(s_ref)):
        assert got.dtype == ref.dtype and got.dtype in (torch.float32, torch.complex64)
        torch.testing.assert_close(got, ref)


def test_autocast_safe_restores_autocast_after_the_op():
    with torch.autocast("cpu", dtype=torch.bfloat16):
        rnnzoo.ops.simple_gla(**_inputs("simple_gla", torch.float32), mode="chunk")
        assert torch.is_autocast_enabled("cpu")
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.bfloat16


@pytest.mark.parametrize("size", [2.0, "4", True, None])
def test_a_chunk_size_that_is_not_an_integer_is_refused(size):
    with pytest.raises(ValueError, match="chunk_size"):
        rnnzoo.ops.simple_gla(**_inputs("simple_gla", torch.float32), mode="chunk", chunk_size=size)
