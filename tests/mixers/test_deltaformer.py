"""DeltaFormer mixer: step (the key/write cache) == full forward == any split at 1e-5 / 1e-10 over sequences
spanning several chunks; the cache grows and is not counted as a fixed state."""

import pytest
import torch

from rnnzoo import mixers
from rnnzoo.testing import run_split, run_steps


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.float64, 1e-10)])
def test_step_equals_forward_equals_split(dtype, tol):
    torch.manual_seed(0)
    mixer = mixers.build("deltaformer", 32, num_heads=2, chunk_size=8).to(dtype)
    x = torch.randn(2, 29, 32, dtype=dtype, generator=torch.Generator().manual_seed(1))
    y, state = mixer(x)
    for got, got_state in (run_steps(mixer, x), run_split(mixer, x, [5, 1, 12, 11])):
        torch.testing.assert_close(got, y, atol=tol, rtol=tol)
        for a, b in zip(got_state, state):
            torch.testing.assert_close(a, b, atol=tol, rtol=tol)
    assert mixer.state_size is None and state[1].shape == (2, 29, 2, 16)


def test_bad_config_raises():
    with pytest.raises(ValueError, match="chunk_size"):
        mixers.build("deltaformer", 32, chunk_size=0)
