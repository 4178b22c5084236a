"""PaTH mixer: step (the transformed-key cache) == full forward == any split at 1e-5 / 1e-10, with and without the
forget gate, over sequences spanning several chunks."""

import pytest
import torch

from rnnzoo import mixers
from rnnzoo.testing import run_split, run_steps


def build(dtype, **options):
    torch.manual_seed(0)
    return mixers.build("path", 32, num_heads=2, w_rank=8, chunk_size=8, **options).to(dtype)


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.float64, 1e-10)])
@pytest.mark.parametrize("gate", [False, True])
def test_step_equals_forward_equals_split(dtype, tol, gate):
    mixer = build(dtype, use_forget_gate=gate)
    x = torch.randn(2, 29, 32, dtype=dtype, generator=torch.Generator().manual_seed(1))
    y, state = mixer(x)
    for got, got_state in (run_steps(mixer, x), run_split(mixer, x, [5, 1, 12, 11])):
        torch.testing.assert_close(got, y, atol=tol, rtol=tol)
        for a, b in zip(got_state, state):
            torch.testing.assert_close(a, b, atol=tol, rtol=tol)


def test_state_grows_and_is_not_counted():
    mixer = build(torch.float32)
    assert mixer.state_size is None
    _, state = mixer(torch.randn(1, 7, 32))
    assert state[0].shape == (1, 7, 2, 16)


def test_bad_config_raises():
    with pytest.raises(ValueError, match="divisible by num_heads"):
        mixers.build("path", 32, num_heads=3)
    with pytest.raises(ValueError, match="w_rank"):
        mixers.build("path", 32, w_rank=0)
