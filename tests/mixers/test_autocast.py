"""Every registered causal mixer (and each contract variant) runs under ``torch.autocast("cpu", dtype=bfloat16)``:
a forward and a forward continued from the returned state give finite outputs equal to the float32 run within
bfloat16 tolerance (ops run with autocast disabled inside, so only the mixers' layers compute in bfloat16)."""

import pytest
import torch

from tests.mixers.test_contract import CAUSAL_AND_VARIANTS, make

TOL = 5e-2  # relative to the output's scale: bfloat16 keeps 8 bits of mantissa in the projections


@pytest.mark.parametrize("name", CAUSAL_AND_VARIANTS)
def test_forward_and_continued_forward_under_bf16_autocast_match_float32(name):
    mixer = make(name)
    x = torch.randn(2, 7, mixer.d_model, generator=torch.Generator().manual_seed(1))
    y_ref, _ = mixer(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y1, state = mixer(x[:, :4])
        y2, state = mixer(x[:, 4:], state)
    y = torch.cat((y1, y2), 1)
    assert torch.isfinite(y).all()
    assert all(torch.isfinite(t).all() for t in state if t.is_floating_point())
    scale = max(1.0, y_ref.abs().max().item())
    torch.testing.assert_close(y.float(), y_ref.detach(), atol=TOL * scale, rtol=TOL)
