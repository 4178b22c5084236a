import numpy as np
import pytest

from rnnzoo.apps.dynamics.metrics import power_spectrum_distance, state_space_divergence
from rnnzoo.apps.dynamics.systems import trajectory


def test_identical_trajectories_score_zero():
    x = trajectory("lorenz63", 500).numpy()
    # only the smoothing is left: at most log(1 + bins^3 eps) = log(1.027)
    assert 0 <= state_space_divergence(x, x) < 0.027
    assert state_space_divergence(x, x, eps=1e-12) == pytest.approx(0.0, abs=1e-6)
    assert power_spectrum_distance(x, x) == pytest.approx(0.0, abs=1e-6)


def test_another_trajectory_on_the_attractor_scores_lower_than_noise():
    a, b = trajectory("lorenz63", 2000, seed=0, transient=1.0).numpy(), trajectory("lorenz63", 2000, seed=1, transient=1.0).numpy()
    noise = np.random.default_rng(0).normal(a.mean(0), a.std(0), a.shape)
    assert state_space_divergence(a, b) < state_space_divergence(a, noise)
    assert power_spectrum_distance(a, b) < power_spectrum_distance(a, noise)


def test_diverged_trajectory():
    a = trajectory("lorenz63", 100).numpy()
    bad = a.copy()
    bad[5] = np.inf
    assert state_space_divergence(a, bad) == float("inf") and power_spectrum_distance(a, bad) == 1.0
    with pytest.raises(ValueError, match="one shape"):
        power_spectrum_distance(a, a[:50])
