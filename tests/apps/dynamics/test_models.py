import pytest
import torch

from rnnzoo.apps.dynamics.models import PLRNN, PLRNNConfig, gtf_unroll


def _model(seed=0):
    torch.manual_seed(seed)
    return PLRNN(PLRNNConfig(n_obs=3, latent=8, hidden=16))


def test_generation_equals_free_running_gtf():
    model, x = _model(), torch.randn(2, 12, 3)
    torch.testing.assert_close(gtf_unroll(model, x, 0.0), model.generate(x[:, 0], 11))


def test_full_forcing_is_one_step_prediction_from_the_data():
    """alpha = 1: each prediction is F applied to [x_{t-1}, the model's own unobserved latents]."""
    model, x = _model(1), torch.randn(2, 6, 3)
    pred = gtf_unroll(model, x, 1.0)
    z = model.initial_state(x[:, 0])
    for t in range(1, 6):
        z = model.step(z)
        torch.testing.assert_close(pred[:, t - 1], z[:, :3])
        z = torch.cat([x[:, t], z[:, 3:]], -1)


def test_gtf_interpolates_and_backpropagates():
    model, x = _model(2), torch.randn(2, 10, 3)
    a, b, mid = gtf_unroll(model, x, 0.0), gtf_unroll(model, x, 1.0), gtf_unroll(model, x, 0.5)
    assert not torch.allclose(mid, a) and not torch.allclose(mid, b)
    mid.square().sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_orbits_stay_bounded_when_a_is_contracting():
    """|F(z) - A z - h1| <= |W1| |h2|: with |A| < 1 a free run cannot escape, whatever the weights."""
    model = _model()
    with torch.no_grad():
        model.w1.mul_(50)
        model.w2.mul_(50)
    gen = model.generate(torch.full((1, 3), 1e3), 2000)
    bound = (model.w1.abs() @ model.h2.abs() + model.h1.abs()).max() / (1 - model.a.abs().max())
    assert gen[:, -100:].abs().max() <= bound + 1e-3


@pytest.mark.parametrize("kwargs", [dict(n_obs=9, latent=8), dict(n_obs=0, latent=3)])
def test_bad_config(kwargs):
    with pytest.raises(ValueError, match="n_obs"):
        PLRNNConfig(**kwargs)


def test_bad_alpha():
    with pytest.raises(ValueError, match="alpha"):
        gtf_unroll(_model(), torch.randn(1, 4, 3), 1.5)
