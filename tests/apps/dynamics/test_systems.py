import numpy as np
import pytest
import torch
from scipy.integrate import solve_ivp

from rnnzoo.apps.dynamics.systems import SYSTEMS, integrate, trajectories, trajectory


@pytest.mark.parametrize("name", sorted(SYSTEMS))
def test_rk4_matches_solve_ivp_with_fourth_order_error(name):
    """Against DOP853 at rtol = atol = 1e-12 over one time unit: the error at dt = 0.01 is small and halving
    dt divides it by about 2^4 (RK4's global order) where it is above the reference's own error."""
    f, n, centre, _ = SYSTEMS[name]
    x0 = trajectory(name, 1, seed=3)[0]

    def rhs(_, x):
        return f(torch.from_numpy(x)).numpy()

    ref = solve_ivp(rhs, (0, 1.0), x0.numpy(), method="DOP853", rtol=1e-12, atol=1e-12,
                    t_eval=np.linspace(0.01, 1.0, 100)).y.T
    scale = np.abs(ref).max()
    errors = [np.abs(integrate(f, x0, 100 * k, 0.01 / k).numpy()[k - 1::k] - ref).max() / scale for k in (1, 2)]
    assert errors[0] < 2e-5
    assert errors[0] < 1e-9 or 10 < errors[0] / errors[1] < 22  # below 1e-9: DOP853's own error dominates


def test_trajectory_is_deterministic_per_seed():
    a, b, c = (trajectory("rossler", 50, seed=s, noise=0.1) for s in (0, 0, 1))
    assert a.dtype == torch.float64 and a.shape == (50, 3)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_batched_trajectories_equal_single_ones():
    both = trajectories("lorenz63", 30, seeds=(2, 9), noise=0.1, transient=0.5)
    torch.testing.assert_close(both[1], trajectory("lorenz63", 30, seed=9, noise=0.1, transient=0.5))


def test_lorenz96_dimension():
    assert trajectory("lorenz96", 5).shape == (5, 10)


@pytest.mark.parametrize("kwargs, match", [(dict(system="lorenz"), "unknown system"),
                                           (dict(system="lorenz63", steps=0), "steps"),
                                           (dict(system="lorenz63", dt=0.0), "dt"),
                                           (dict(system="lorenz63", noise=-1.0), "noise")])
def test_bad_inputs(kwargs, match):
    with pytest.raises(ValueError, match=match):
        trajectory(**{"steps": 5, **kwargs})
