"""Regression suite of a hostile-input probe: every bad value is refused before work starts, with a one-line
``ValueError`` that names the problem, or runs correctly; nothing is silently wrong and nothing is a traceback
from deep inside torch. Categories: bad tensors and states, bad configs (here); bad files, concurrent writers
and interrupted saves (tests/train, tests/bench)."""

import math

import pytest
import torch

from rnnzoo import mixers
from tests.mixers.test_contract import CAUSAL, D_MODEL, make

OTHER_DTYPES = [torch.float16, torch.bfloat16, torch.float64]


# -- bad tensors and states ----------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", OTHER_DTYPES, ids=str)
@pytest.mark.parametrize("name", mixers.names())
def test_input_in_another_dtype_than_the_parameters_names_both(name, dtype):
    with pytest.raises(ValueError, match=rf"{dtype}.*parameters are torch.float32"):
        make(name)(torch.randn(2, 5, D_MODEL).to(dtype))


@pytest.mark.parametrize("name", mixers.names())
def test_meta_input_is_checked_without_reading_values(name):
    mixer = make(name)
    with pytest.raises(ValueError, match="meta"):
        mixer(torch.randn(2, 5, D_MODEL, device="meta"))


@pytest.mark.parametrize("bad", ["nan", "inf"])
@pytest.mark.parametrize("name", CAUSAL)
def test_non_finite_state_is_refused(name, bad):
    mixer = make(name)
    _, state = mixer(torch.randn(2, 4, D_MODEL))
    i = next(i for i, t in enumerate(state) if t.is_floating_point() and t.numel())
    poisoned = tuple(t.clone(memory_format=torch.contiguous_format) for t in state)
    poisoned[i].view(-1)[0] = float(bad)
    with pytest.raises(ValueError, match=rf"state\[{i}\] contains NaN or \+Inf"):
        mixer(torch.randn(2, 4, D_MODEL), poisoned)
    with pytest.raises(ValueError, match=rf"state\[{i}\] contains NaN or \+Inf"):
        mixer.step(torch.randn(2, D_MODEL), poisoned)


@pytest.mark.parametrize("name", CAUSAL)
def test_state_in_another_dtype_or_on_meta_is_refused(name):
    mixer = make(name)
    _, state = mixer(torch.randn(2, 4, D_MODEL))
    i = next(i for i, t in enumerate(state) if t.is_floating_point() and t.numel())
    other = tuple(t.double() if j == i else t for j, t in enumerate(state))
    with pytest.raises(ValueError, match=rf"state\[{i}\] is torch.float64"):
        mixer(torch.randn(2, 4, D_MODEL), other)
    meta = tuple(t.to("meta") if j == i else t for j, t in enumerate(state))
    with pytest.raises(ValueError, match=rf"state\[{i}\] is on meta"):
        mixer(torch.randn(2, 4, D_MODEL), meta)


def test_a_non_tensor_state_is_refused():
    mixer = make("gru")
    with pytest.raises(ValueError, match="tuple of tensors"):
        mixer(torch.randn(2, 4, D_MODEL), [torch.zeros(2, D_MODEL)])


# -- bad configs ---------------------------------------------------------------------------------------
BAD_TYPES = {int: ["abc", 16.5, True], float: ["abc", True], bool: ["yes", 1], str: [3]}


@pytest.mark.parametrize("name", mixers.names())
def test_config_fields_are_type_checked(name):
    from rnnzoo.validate import field_types

    for field, allowed in field_types(mixers.get(name).config_class).items():
        if field == "d_model":
            continue
        base = next((t for t in (bool, int, float, str) if t in allowed), None)
        if base is None:
            continue
        for value in BAD_TYPES[base]:
            if any(isinstance(value, t) and not (t is int and isinstance(value, bool)) for t in allowed):
                continue
            with pytest.raises(ValueError, match=rf"{field}.*{type(value).__name__}"):
                mixers.build(name, D_MODEL, **{field: value})


def test_float_d_model_is_refused():
    with pytest.raises(ValueError, match="d_model"):
        mixers.build("lstm", 32.0)


@pytest.mark.parametrize("value", [0, -1])
@pytest.mark.parametrize("name", mixers.names())
def test_zero_or_negative_numeric_options_are_refused_or_run_finite(name, value):
    """Every numeric option at 0 and -1: a ValueError at build, or a mixer whose output is finite."""
    from rnnzoo.validate import field_types

    for field, allowed in field_types(mixers.get(name).config_class).items():
        if field == "d_model" or not ({int, float} & set(allowed)) or bool in allowed:
            continue
        try:
            mixer = make(name, **{field: value})
        except ValueError:
            continue
        y, _ = mixer(torch.randn(2, 6, D_MODEL))
        assert torch.isfinite(y).all(), f"{name}({field}={value}) built but returns NaN/Inf"


def test_attention_rotary_base_must_be_positive():
    for base in (0.0, -10000.0, math.nan):
        with pytest.raises(ValueError, match="rotary_base"):
            mixers.build("attention", 16, rotary_base=base)
