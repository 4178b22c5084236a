"""The mixer contract, checked for every registered mixer by the checks of ``rnnzoo.testing`` (which
``check_mixer`` runs on a user's own mixer).

A new mixer is covered by registering it; give it small test-time options in TEST_OPTIONS if its
defaults are too large for a quick test (e.g. a window that a short sequence would never fill). Options that
change what a mixer carries or computes (e.g. ``use_short_conv``) are listed in VARIANTS, named as the
bench's run specs ("name:key=value"), and go through the causal contract checks like mixers of their own.
"""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnzoo import mixers, testing

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
    "hgrn2": {"num_heads": 2, "layer_idx": 1, "num_layers": 2},
    "fox": {"num_heads": 2},
    "lightnet": {"num_heads": 2, "gate_low_rank_dim": 8},
    "based": {"num_heads": 2, "feature_dim": 4, "window": 4},
    "mamba": {"d_state": 4},
    "hydra": {"d_state": 4, "headdim": 4, "ngroups": 2, "d_conv": 3, "chunk_size": 4},
    "s4d": {"d_state": 4, "dt_min": 0.05, "dt_max": 0.5},
    "aaren": {"num_heads": 2, "chunk_size": 4},
    "mamba2": {"d_state": 4, "headdim": 4, "ngroups": 2, "chunk_size": 4},
    "mamba3": {"d_state": 4, "headdim": 4, "ngroups": 2, "chunk_size": 4},
    "path": {"num_heads": 2, "w_rank": 4, "chunk_size": 4},
    "deltaformer": {"num_heads": 2, "chunk_size": 4},
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
    "rwkv6": {"num_heads": 2, "mix_lora_dim": 4, "decay_lora_dim": 4},
    "kda": {"num_heads": 2, "chunk_size": 4},
    "gdn2": {"num_heads": 2, "chunk_size": 4},
    "rwkv7": {"num_heads": 2, "decay_lora_dim": 4, "a_lora_dim": 4, "gate_lora_dim": 4, "chunk_size": 4},
    "log_linear_mamba2": {"d_state": 4, "headdim": 4, "ngroups": 2, "chunk_size": 4},
    "log_linear_gated_deltanet": {"num_heads": 2, "chunk_size": 4},
    "mesanet": {"num_heads": 2, "chunk_size": 4},
    "ttt": {"num_heads": 2, "mini_batch_size": 4},
    "gsa": {"num_heads": 2, "num_slots": 3},
    "comba": {"num_heads": 2, "chunk_size": 4},
    "longhorn": {"d_state": 4},
}
SHORT_CONV_MIXERS = ["based", "gla", "hgrn", "lightning", "lightnet", "linear_attention", "retnet"]
VARIANTS = {f"{n}:use_short_conv=True": (n, {"use_short_conv": True}) for n in SHORT_CONV_MIXERS}
VARIANTS["combiner:partition=logsparse"] = ("combiner", {"partition": "logsparse"})
VARIANTS["fox:output_gate=False"] = ("fox", {"output_gate": False})
VARIANTS["gsa:use_short_conv=True"] = ("gsa", {"use_short_conv": True})
VARIANTS["mamba3:mimo_rank=2"] = ("mamba3", {"mimo_rank": 2})
VARIANTS["path:use_forget_gate=True"] = ("path", {"use_forget_gate": True})
D_MODEL = 16
CAUSAL = [n for n in mixers.names() if mixers.get(n).causal]
CAUSAL_AND_VARIANTS = CAUSAL + list(VARIANTS)


def make(name, dtype=torch.float32, seed=0, **options):
    """Registered mixer ``name`` (or a VARIANTS key) at D_MODEL with its TEST_OPTIONS and ``options``."""
    name, variant = VARIANTS.get(name, (name, {}))
    torch.manual_seed(seed)
    return mixers.build(name, D_MODEL, **{**TEST_OPTIONS.get(name, {}), **variant, **options}).to(dtype)


def run(check, *args) -> None:
    """A check of ``rnnzoo.testing``; a clause the mixer does not offer yet is a skip."""
    try:
        check(*args)
    except testing.Unsupported as e:
        pytest.skip(str(e))


@pytest.mark.parametrize("dtype,tol", [testing.F32, testing.F64])
@pytest.mark.parametrize("name", CAUSAL_AND_VARIANTS)
def test_forward_equals_split_equals_step(name, dtype, tol):
    testing.check_full_split_step(make(name, dtype), tol)


@settings(max_examples=8, deadline=None)
@given(sizes=st.lists(st.integers(1, 6), min_size=1, max_size=4), batch=st.integers(1, 3))
@pytest.mark.parametrize("name", CAUSAL_AND_VARIANTS)
def test_any_split_matches_full_forward(name, sizes, batch):
    testing.check_split(make(name, torch.float64), sizes, batch)


@pytest.mark.parametrize("name", CAUSAL_AND_VARIANTS)
def test_chunked_prefill_then_step_equals_full_forward(name):
    run(testing.check_chunked_prefill, make(name, torch.float64), 1e-10)


@pytest.mark.parametrize("name", CAUSAL_AND_VARIANTS)
def test_packed_sequences_equal_each_sequence_alone(name):
    run(testing.check_packed, make(name, torch.float64), 1e-10)


@pytest.mark.parametrize("name", CAUSAL_AND_VARIANTS)
def test_padded_batch_equals_each_row_alone(name):
    run(testing.check_padded, make(name, torch.float64), 1e-10)


@pytest.mark.parametrize("name", mixers.names() + list(VARIANTS))
def test_gradients_flow_and_are_finite(name):
    testing.check_gradients(make(name))


@pytest.mark.parametrize("name", CAUSAL_AND_VARIANTS)
def test_state_size_counts_the_floats_carried(name):
    testing.check_state_size(make(name))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", CAUSAL_AND_VARIANTS)
def test_states_have_the_input_dtype_and_device(name, dtype):
    testing.check_state_dtype_device(make(name, dtype))


@pytest.mark.parametrize("name", CAUSAL_AND_VARIANTS)
def test_step_without_state_starts_from_zero_state(name):
    testing.check_step_from_no_state(make(name))


@pytest.mark.parametrize("case,make_x,message", testing.BAD_INPUTS, ids=[c[0] for c in testing.BAD_INPUTS])
@pytest.mark.parametrize("name", mixers.names())
def test_bad_input_raises_value_error_naming_the_problem(name, case, make_x, message):
    testing.check_bad_input(make(name), make_x, message)


@pytest.mark.parametrize("name", CAUSAL_AND_VARIANTS)
def test_state_batch_mismatch_raises(name):
    testing.check_state_batch_mismatch(make(name))


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


@pytest.mark.parametrize("grad_mode", list(testing.GRAD_MODES))
@pytest.mark.parametrize("name", CAUSAL_AND_VARIANTS)
def test_forward_split_and_step_agree_under_no_grad_and_inference_mode(name, grad_mode):
    """Serving runs without autograd: every path must work there and give the grad-mode numbers."""
    testing.check_grad_modes(make(name, torch.float64), grad_mode)


@pytest.mark.parametrize("name", CAUSAL_AND_VARIANTS + ["linear_attention:normalize=True"])
def test_materialized_matrix_reproduces_the_output(name):
    """Every mixer linear in its values given x rebuilds its output from its implicit attention matrix to 1e-5;
    the others refuse ``materialize``."""
    if name == "linear_attention:normalize=True":
        testing.check_materialize(make("linear_attention", normalize=True), testing.F32[1])
    else:
        testing.check_materialize(make(name), testing.F32[1])


def test_matrix_mixers_are_the_linear_families():
    have = {n for n in mixers.names() if mixers.get(n).matrix_form}
    assert have == {"attention", "sliding_attention", "linear_attention", "retnet", "lightning", "gla", "hgrn", "hgrn2", "fox",
                    "mamba", "mamba2", "deltanet", "gated_deltanet", "log_linear_mamba2",
                    "log_linear_gated_deltanet"}


@pytest.mark.parametrize("name", ["lstm", "gru", "deltaproduct"])
def test_materialize_refuses_mixers_without_a_matrix(name):
    with pytest.raises(ValueError, match="no implicit attention matrix"):
        make(name).materialize(torch.randn(1, 4, D_MODEL))
