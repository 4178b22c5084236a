"""TCNCA: the state it carries, and Mega's dimensions."""

import pytest
import torch

from rnnzoo import mixers


def test_state_is_the_conv_windows_and_one_chunk_of_keys_and_values():
    mixer = mixers.build("tcnca", 32, tcn_depth=3, kernel_size=4, chunk_size=5)
    assert mixer.config.z_dim == 8 and mixer.hdim == 64  # Mega's d/4 and 2d
    assert mixer.state_size == 32 * 3 * (1 + 2 + 4) + 4 * (8 + 64)
    _, state = mixer(torch.randn(2, 13, 32))
    assert [tuple(t.shape) for t in state] == [(2, 32, 3), (2, 32, 6), (2, 32, 12), (2, 4, 1, 8), (2, 4, 1, 64), (2,)]
    assert state[-1].tolist() == [13, 13]


def test_bad_config_raises():
    with pytest.raises(ValueError, match="z_dim"):
        mixers.build("tcnca", 32, z_dim=5)
    with pytest.raises(ValueError, match="chunk_size"):
        mixers.build("tcnca", 32, chunk_size=0)
