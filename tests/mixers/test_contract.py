"""The mixer contract, checked for every registered mixer.

A new mixer is covered by registering it; give it small test-time options in TEST_OPTIONS if its
defaults are too large for a quick test (e.g. a window that a short sequence would never fill). Options that
change what a mixer carries or computes (e.g. ``use_short_conv``) are listed in VARIANTS, named as the
bench's run specs ("name:key=value"), and go through the causal contract checks like mixers of their own.
"""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnzoo import mixers

TEST_OPTIONS = {
    "sliding_attention": {"window": 4},
    "deltanet": {"num_heads": 2, "chunk_size": 4},
    "gated_deltanet": {"num_heads": 2, "chunk_size": 4},
    "deltaproduct": {"num_heads": 2, "chunk_size": 4, "num_householder": 3},
    "mom": {"num_heads": 2, "chunk_size": 4, "num_memories": 3, "topk": 2},
    "linear_attention": {"num_heads": 2},
    "retnet": {"num_heads": 2},
    "lightning": {"num_heads": 2},
    "gla": {"num_heads": 2},
    "hgrn": {"num_heads": 2},
    "lightnet": {"num_heads": 2, "gate_low_rank_dim": 8},
    "based": {"num_heads": 2, "feature_dim": 4, "window": 4},
    "mamba": {"d_state": 4},
    "hydra": {"d_state": 4, "headdim": 4, "ngroups": 2, "d_conv": 3, "chunk_size": 4},
    "s4d": {"d_state": 4, "dt_min": 0.05, "dt_max": 0.5},
    "aaren": {"num_heads": 2, "chunk_size": 4},
    "mamba2": {"d_state": 4, "headdim": 4, "ngroups": 2, "chunk_size": 4},
    "titans": {"num_heads": 2, "chunk_size": 4, "num_persistent": 2},
    "titans_mac": {"num_heads": 2, "chunk_size": 4, "window": 4, "num_persistent": 2},
    "atlas": {"num_heads": 2, "chunk_size": 4, "omega_window": 3},
    "moneta": {"num_heads": 2, "chunk_size": 4, "expansion": 2},
    "yaad": {"num_heads": 2, "chunk_size": 4, "expansion": 2},
    "memora": {"num_heads": 2, "chunk_size": 4, "expansion": 2},
    "hyena": {"l_max": 8, "filter_order": 8},  # l_max below the test lengths: the FIR filter's cut is crossed
    "tcnca": {"chunk_size": 4, "tcn_depth": 3},
    "pgn": {"window": 5},
    "combiner": {"num_heads": 2, "block_size": 3},
    # a fixed set of centroids (ema_decay 1): a training-mode forward would otherwise move them between calls
    "routing_attention": {"num_heads": 4, "num_local_heads": 2, "num_clusters": 2, "window": 3, "ema_decay": 1.0},
    "seqboat": {"d_state": 4, "qk_dim": 8, "window": 3, "dt_min": 0.05, "dt_max": 0.5},
    "lmu": {"order": 8, "theta": 6.0, "d_u": 2},
    "rglru": {"num_heads": 2},
}
SHORT_CONV_MIXERS = ["based", "gla", "hgrn", "lightning", "lightnet", "linear_attention", "retnet"]
VARIANTS = {f"{n}:use_short_conv=True": (n, {"use_short_conv": True}) for n in SHORT_CONV_MIXERS}
VARIANTS["combiner:partition=logsparse"] = ("combiner", {"partition": "logsparse"})
D_MODEL = 16
CAUSAL = [n for n in mixers.names() if mixers.get(n).causal]
CAUSAL_AND_VARIANTS = CAUSAL + list(VARIANTS)


def make(name, dtype=torch.float32, seed=0, **options):
    """Registered mixer ``name`` (or a VARIANTS key) at D_MODEL with its TEST_OPTIONS and ``options``."""
    name, variant = VARIANTS.get(name, (name, {}))
    torch.manual_seed(seed)
    return mixers.build(name, D_MODEL, **{**TEST_OPTIONS.get(name, {}), **variant, **options}).to(dtype)


def run_split(mixer, x, sizes):
    ys, state = [], None
    start = 0
    for n in sizes:
        y, state = mixer(x[:, start:start + n], state)
        ys.append(y)
        start += n
    return torch.cat(ys, 1), state


def run_steps(mixer, x):
    state = mixer.init_state(x.shape[0], dtype=x.dtype)
    ys = []
    for t in range(x.shape[1]):
        y, state = mixer.step(x[:, t], state)
        ys.append(y)
    return torch.stack(ys, 1), state


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.float64, 1e-10)])
@pytest.mark.parametrize("name", CAUSAL_AND_VARIANTS)
def test_forward_equals_split_equals_step(name, dtype, tol):
    mixer = make(name, dtype)
    x = torch.randn(2, 11, D_MODEL, dtype=dtype, generator=torch.Generator().manual_seed(1))
    y_full, state_full = mixer(x)
    assert y_full.shape == x.shape
    y_split, state_split = run_split(mixer, x, [3, 1, 7])
    y_step, state_step = run_steps(mixer, x)
    torch.testing.assert_close(y_split, y_full, atol=tol, rtol=tol)
    torch.testing.assert_close(y_step, y_full, atol=tol, rtol=tol)
    for a, b, c in zip(state_full, state_split, state_step):
        torch.testing.assert_close(b, a, atol=tol, rtol=tol)
        torch.testing.assert_close(c, a, atol=tol, rtol=tol)


@settings(max_examples=8, deadline=None)
@given(sizes=st.lists(st.integers(1, 6), min_size=1, max_size=4), batch=st.integers(1, 3))
@pytest.mark.parametrize("name", CAUSAL_AND_VARIANTS)
def test_any_split_matches_full_forward(name, sizes, batch):
    mixer = make(name, torch.float64)
    x = torch.randn(batch, sum(sizes), D_MODEL, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    y_full, _ = mixer(x)
    y_split, _ = run_split(mixer, x, sizes)
    torch.testing.assert_close(y_split, y_full, atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("name", mixers.names() + list(VARIANTS))
def test_gradients_flow_and_are_finite(name):
    mixer = make(name)
    x = torch.randn(2, 9, D_MODEL, requires_grad=True)
    y, _ = mixer(x)
    (y ** 2).mean().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    for pname, p in mixer.named_parameters():
        assert p.grad is not None, f"{name}.{pname} got no gradient"
        assert torch.isfinite(p.grad).all(), f"{name}.{pname} has a non-finite gradient"


@pytest.mark.parametrize("name", CAUSAL_AND_VARIANTS)
def test_state_size_counts_the_floats_carried(name):
    mixer = make(name)
    _, state = mixer(torch.randn(3, 20, D_MODEL))
    carried = sum(t.numel() for t in state if t.is_floating_point()) // 3
    if mixer.state_size is None:
        _, longer = mixer(torch.randn(3, 25, D_MODEL))
        assert sum(t.numel() for t in longer if t.is_floating_point()) // 3 > carried  # it grows
    else:
        assert mixer.state_size == carried
        assert all(t.shape[0] == 3 for t in state)


@pytest.mark.parametrize("name", CAUSAL_AND_VARIANTS)
def test_step_without_state_starts_from_zero_state(name):
    mixer = make(name)
    x = torch.randn(2, D_MODEL)
    y0, _ = mixer.step(x, None)
    y1, _ = mixer.step(x, mixer.init_state(2))
    torch.testing.assert_close(y0, y1)


BAD_INPUTS = [
    ("rank", lambda: torch.randn(2, D_MODEL), "rank 3"),
    ("d_model", lambda: torch.randn(2, 5, D_MODEL + 1), f"d_model={D_MODEL}"),
    ("nan", lambda: torch.full((2, 5, D_MODEL), float("nan")), "NaN"),
    ("empty", lambda: torch.randn(2, 0, D_MODEL), "empty"),
    ("integer", lambda: torch.ones(2, 5, D_MODEL, dtype=torch.long), "floating"),
]


@pytest.mark.parametrize("case,make_x,message", BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
@pytest.mark.parametrize("name", mixers.names())
def test_bad_input_raises_value_error_naming_the_problem(name, case, make_x, message):
    with pytest.raises(ValueError, match=message):
        make(name)(make_x())


@pytest.mark.parametrize("name", CAUSAL_AND_VARIANTS)
def test_state_batch_mismatch_raises(name):
    mixer = make(name)
    _, state = mixer(torch.randn(2, 4, D_MODEL))
    with pytest.raises(ValueError, match="batch"):
        mixer(torch.randn(3, 4, D_MODEL), state)
    with pytest.raises(ValueError, match="batch"):
        mixer.step(torch.randn(3, D_MODEL), state)
    with pytest.raises(ValueError, match="x_t"):
        mixer.step(torch.randn(2, 1, D_MODEL), state)


def test_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match="valid names: .*lstm"):
        mixers.build("lstmm", 16)


def test_unknown_option_lists_valid_options():
    with pytest.raises(ValueError, match="no option.*num_heads"):
        mixers.build("attention", 16, heads=4)


@pytest.mark.parametrize("name", mixers.names())
def test_registry_metadata_is_filled(name):
    cls = mixers.get(name)
    assert cls.paper and cls.state_formula and cls.__doc__


GRAD_MODES = {"no_grad": torch.no_grad, "inference_mode": torch.inference_mode}


@pytest.mark.parametrize("grad_mode", list(GRAD_MODES))
@pytest.mark.parametrize("name", CAUSAL_AND_VARIANTS)
def test_forward_split_and_step_agree_under_no_grad_and_inference_mode(name, grad_mode):
    """Serving runs without autograd: every path must work there and give the grad-mode numbers."""
    mixer = make(name, torch.float64)
    x = torch.randn(2, 7, D_MODEL, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    y_grad, state_grad = mixer(x)
    with GRAD_MODES[grad_mode]():
        y_full, state_full = mixer(x)
        y_split, _ = run_split(mixer, x, [4, 3])
        y_step, state_step = run_steps(mixer, x)
    for got in (y_full, y_split, y_step):
        torch.testing.assert_close(got, y_grad.detach(), atol=1e-10, rtol=1e-10)
    for a, b, c in zip(state_grad, state_full, state_step):
        torch.testing.assert_close(b, a.detach(), atol=1e-10, rtol=1e-10)
        torch.testing.assert_close(c, a.detach(), atol=1e-10, rtol=1e-10)
