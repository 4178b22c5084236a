"""Mamba-3 mixer: step == full forward == any split at 1e-5 (float32) and 1e-10 (float64), SISO and MIMO, at a
size whose sequences span several chunks; state size and config checks."""

import pytest
import torch

from rnnzoo import mixers
from rnnzoo.testing import run_split, run_steps

OPTIONS = dict(d_state=16, headdim=8, ngroups=2, chunk_size=8)


def build(dtype, **options):
    torch.manual_seed(0)
    mixer = mixers.build("mamba3", 32, **{**OPTIONS, **options}).to(dtype)
    with torch.no_grad():  # trapezoid weights away from 1 and larger steps: the previous-input term matters
        mixer.dt_bias.add_(2.0)
    return mixer


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.float64, 1e-10)])
@pytest.mark.parametrize("mimo_rank", [0, 3])
def test_step_equals_forward_equals_split(dtype, tol, mimo_rank):
    mixer = build(dtype, mimo_rank=mimo_rank)
    x = torch.randn(2, 37, 32, dtype=dtype, generator=torch.Generator().manual_seed(1))
    y, state = mixer(x)
    for got, got_state in (run_steps(mixer, x), run_split(mixer, x, [5, 1, 12, 19])):
        torch.testing.assert_close(got, y, atol=tol, rtol=tol)
        for a, b in zip(got_state, state):
            torch.testing.assert_close(a, b, atol=tol, rtol=tol)


@pytest.mark.parametrize("mimo_rank", [0, 2])
def test_state_size(mimo_rank):
    mixer = build(torch.float32, mimo_rank=mimo_rank)
    r, h = max(mimo_rank, 1), mixer.nheads
    assert mixer.state_size == h * (16 * 8 + r * (16 + 8) + 4)


@pytest.mark.parametrize("options,message", [
    (dict(rope_fraction=0.25), "rope_fraction"),
    (dict(d_state=1), "no pair to rotate"),
    (dict(mimo_rank=-1), "mimo_rank"),
    (dict(headdim=7), "divisible by headdim"),
    (dict(A_floor=0.0), "A_floor"),
])
def test_bad_config_raises(options, message):
    with pytest.raises(ValueError, match=message):
        mixers.build("mamba3", 32, **{**OPTIONS, **options})
