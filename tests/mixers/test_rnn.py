"""elman/lstm/gru equal torch.nn.RNN/LSTM/GRU once weights are copied, on both paths."""

import pytest
import torch
from torch import nn

from rnnzoo import mixers
from rnnzoo.testing import run_steps

CASES = [("elman", nn.RNN), ("lstm", nn.LSTM), ("gru", nn.GRU)]


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-6), (torch.float64, 1e-12)])
@pytest.mark.parametrize("name,torch_cls", CASES)
def test_matches_torch_nn(name, torch_cls, dtype, tol):
    torch.manual_seed(0)
    ref = torch_cls(12, 12, batch_first=True).to(dtype)
    mixer = mixers.build(name, 12).to(dtype)
    mixer.load_torch(ref)
    x = torch.randn(3, 9, 12, dtype=dtype)
    y_ref, _ = ref(x)
    y, _ = mixer(x)
    torch.testing.assert_close(y, y_ref, atol=tol, rtol=tol)
    torch.testing.assert_close(run_steps(mixer, x)[0], y_ref, atol=tol, rtol=tol)


def test_fresh_init_matches_torch_init_distribution():
    torch.manual_seed(0)
    mixer = mixers.build("lstm", 64)
    bound = 64 ** -0.5
    assert mixer.weight_hh.abs().max() <= bound and mixer.weight_hh.abs().max() > 0.9 * bound


def test_d_hidden_adds_projection_back_to_d_model():
    mixer = mixers.build("gru", 16, d_hidden=24)
    y, (h,) = mixer(torch.randn(2, 5, 16))
    assert y.shape == (2, 5, 16) and h.shape == (2, 24) and mixer.state_size == 24


def test_load_torch_rejects_mismatched_module():
    with pytest.raises(ValueError, match="hidden_size"):
        mixers.build("lstm", 8).load_torch(nn.LSTM(8, 16, batch_first=True))


def test_bidirectional_sees_the_future_and_keeps_forward_half_causal():
    torch.manual_seed(0)
    bi = mixers.Bidirectional("gru", 8)
    assert not bi.causal
    x = torch.randn(1, 6, 8)
    x2 = x.clone()
    x2[:, -1] += 1.0
    y, _ = bi(x)
    y2, _ = bi(x2)
    assert (y[:, 0] - y2[:, 0]).abs().max() > 1e-6  # position 0 depends on the last token
    torch.testing.assert_close(bi.fwd(x[:, :3])[0], bi.fwd(x)[0][:, :3])
    with pytest.raises(ValueError, match="not causal"):
        bi.step(x[:, 0])
