import pytest
import torch

from rnnzoo.apps.tpp.metrics import density_predictions
from rnnzoo.apps.tpp.models import TPPConfig, TPPModel


def model_for(head, mixer="gru", seed=0):
    torch.manual_seed(seed)
    return TPPModel(TPPConfig(num_marks=3, head=head, mixer=mixer, d_model=8)).double()


def trapezoid_integral(head, h, s, points=20001):
    """Lambda(s) [B, N] by the trapezoid rule on ``points`` nodes of [0, s]."""
    grid = torch.linspace(0, 1, points, dtype=torch.float64) * s[..., None]  # [B, N, P]
    return torch.trapezoid(head.log_rate(h, grid).exp().sum(-1), grid, dim=-1)


@pytest.mark.parametrize("w", [0.3, -0.4, 1e-6])
def test_rmtpp_closed_form_integral_equals_quadrature(w):
    model = model_for("rmtpp")
    with torch.no_grad():
        model.head.w.fill_(w)
    h, s = torch.randn(2, 3, 8, dtype=torch.float64), torch.rand(2, 3, dtype=torch.float64) * 3
    torch.testing.assert_close(model.head.integral(h, s), trapezoid_integral(model.head, h, s), rtol=1e-7, atol=0)


def test_neural_hawkes_monte_carlo_integral_is_unbiased_against_quadrature():
    model = model_for("nhp")
    h, s = torch.randn(2, 3, 8, dtype=torch.float64), torch.rand(2, 3, dtype=torch.float64) * 3 + 0.1
    exact = trapezoid_integral(model.head, h, s)
    gen = torch.Generator().manual_seed(0)
    estimate = model.head.integral(h, s, 20_000, gen)
    torch.testing.assert_close(estimate, exact, rtol=0.02, atol=0)  # MC error about 0.3 % at 20k points
    assert not torch.allclose(model.head.integral(h, s, 4, gen), exact, rtol=1e-3)  # few points: noisy


@pytest.mark.parametrize("mixer", ["gru", "attention", "mamba"])
@pytest.mark.parametrize("head", ["rmtpp", "nhp"])
def test_history_encoding_is_causal_and_padding_is_ignored(mixer, head):
    model = model_for(head, mixer).eval()
    gaps, marks = torch.rand(2, 7, dtype=torch.float64), torch.randint(0, 3, (2, 7))
    mask = torch.ones(2, 7, dtype=torch.bool)
    gen = lambda: torch.Generator().manual_seed(1)  # noqa: E731
    full = model.log_likelihood(gaps, marks, mask, 4, gen())
    later = gaps.clone()
    later[:, 5:] += 1.0  # changing events 5, 6 must leave the likelihood of events 0..4 unchanged
    torch.testing.assert_close(model.log_likelihood(later, marks, mask, 4, gen())[:, :5], full[:, :5])
    cut = mask.clone()
    cut[1, 4:] = False
    assert (model.log_likelihood(gaps, marks, cut, 4, gen())[1, 4:] == 0).all()


def test_density_predictions_of_a_constant_rate_give_its_mean_gap_and_top_mark():
    grid = torch.linspace(0, 60, 60_001, dtype=torch.float64)[1:]
    rates = torch.tensor([0.1, 0.3, 0.1], dtype=torch.float64).expand(len(grid), 3)  # total 0.5: mean gap 2
    gap, mark = density_predictions(rates, grid)
    assert float(gap) == pytest.approx(2.0, rel=1e-3) and int(mark) == 1


def test_bad_configs_are_refused():
    with pytest.raises(ValueError, match="head"):
        TPPConfig(head="thp")
    with pytest.raises(ValueError, match="num_marks is None"):
        TPPModel(TPPConfig())
