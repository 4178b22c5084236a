"""seqboat: the activation rate is reported, the gate learns through the selected option's probability, and the
state stays the same size however long the sequence."""

import torch

from rnnzoo import mixers
from rnnzoo.ops.s4d import s4d_conv


def _mixer(**options):
    torch.manual_seed(0)
    return mixers.build("seqboat", 16, **{"d_state": 4, "qk_dim": 8, "window": 3, **options})


def test_activation_rate_is_reported_and_the_gate_gets_a_gradient():
    mixer = _mixer()
    with torch.no_grad():
        mixer.hx_proj.bias[:2] = torch.tensor([0.0, 1.0])  # option 1 ahead: most tokens activated
    x = torch.randn(2, 12, 16)
    y, _ = mixer(x)
    assert 0.5 < mixer.last_activation_rate <= 1.0
    y.pow(2).sum().backward()
    assert mixer.log_tau.grad.abs() > 0 and mixer.h_proj.weight.grad.abs().sum() > 0
    with torch.no_grad():
        mixer.hx_proj.bias[:2] = torch.tensor([1.0, 0.0])
    mixer(x)
    assert mixer.last_activation_rate < 0.5


def test_no_token_activated_leaves_only_the_ssm_path():
    mixer = _mixer()
    with torch.no_grad():
        mixer.hx_proj.bias[:2] = torch.tensor([100.0, -100.0])
    x = torch.randn(2, 7, 16)
    y, state = mixer(x)
    assert mixer.last_activation_rate == 0.0
    assert torch.equal(state[3], torch.zeros(2, dtype=torch.long))

    ssm, _ = s4d_conv(x, mixer.log_dt, mixer.log_A_real, mixer.A_imag, torch.view_as_complex(mixer.C), mixer.D)
    hx = mixer.hx_proj(torch.nn.functional.silu(ssm))[..., 2:]
    torch.testing.assert_close(y, hx)


def test_state_is_bounded():
    mixer = _mixer()
    _, short = mixer(torch.randn(1, 5, 16))
    _, long = mixer(torch.randn(1, 40, 16))
    assert [t.shape for t in short] == [t.shape for t in long]
