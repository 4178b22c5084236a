"""log_linear_mamba2 / log_linear_gated_deltanet: the level states in use grow as ceil(log2 T) + 1 inside the fixed
allocation; a sequence past 2^(num_levels - 1) tokens is refused; equal level scales make the Mamba-2 variant's
op plain SSD."""

import pytest
import torch

from rnnzoo import mixers
from rnnzoo.ops.log_linear import num_levels

OPTIONS = {"log_linear_mamba2": {"d_state": 4, "headdim": 4, "chunk_size": 4},
           "log_linear_gated_deltanet": {"num_heads": 2, "chunk_size": 4}}


@pytest.mark.parametrize("name", OPTIONS)
def test_levels_in_use_grow_with_log_t(name):
    torch.manual_seed(0)
    mixer = mixers.build(name, 16, num_levels=5, **OPTIONS[name])
    levels_slot = 1 if name == "log_linear_mamba2" else 0
    for t in (1, 2, 5, 16):
        _, state = mixer(torch.randn(2, t, 16))
        used = state[levels_slot].flatten(2).abs().sum(-1).gt(0).sum(-1)
        assert (used <= num_levels(t)).all() and state[levels_slot].shape[1] == 5
    with pytest.raises(ValueError, match="num_levels=5"):
        mixer(torch.randn(1, 17, 16))


def test_step_past_the_levels_refused():
    mixer = mixers.build("log_linear_mamba2", 16, num_levels=2, **OPTIONS["log_linear_mamba2"])
    _, state = mixer(torch.randn(1, 2, 16))
    with pytest.raises(ValueError, match="raise num_levels"):
        mixer.step(torch.randn(1, 16), state)


def test_config_checks():
    with pytest.raises(ValueError, match="power of two"):
        mixers.build("log_linear_mamba2", 16, **{**OPTIONS["log_linear_mamba2"], "chunk_size": 6})
    with pytest.raises(ValueError, match="num_levels"):
        mixers.build("log_linear_gated_deltanet", 16, num_levels=0)


@pytest.mark.parametrize("name", OPTIONS)
def test_materialize_past_the_levels_refused(name):
    mixer = mixers.build(name, 16, num_levels=3, **OPTIONS[name])
    assert mixer.materialize(torch.randn(1, 4, 16)).shape[-2:] == (4, 4)
    with pytest.raises(ValueError, match="raise num_levels"):
        mixer.materialize(torch.randn(1, 5, 16))
