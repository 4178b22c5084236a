import numpy as np
import torch

from rnnzoo.apps.timeseries.arnet import ARNet
from rnnzoo.apps.timeseries.baselines import fit_ar
from rnnzoo.apps.timeseries.splits import windows

TRUE = np.array([0.6, -0.3, 0.2])  # a stationary AR(3)


def _simulate(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    y = np.zeros(n + 100)
    for t in range(3, len(y)):
        y[t] = TRUE @ y[t - 3:t][::-1] + rng.normal(scale=0.5)
    return y[100:, None]


def _fit_arnet(y, p, sparsity, steps=500):
    torch.manual_seed(0)
    x, target = (torch.as_tensor(a, dtype=torch.float32) for a in windows(y, p, 1, (0, None)))
    net = ARNet(p, 1, sparsity)
    opt = torch.optim.Adam(net.parameters(), lr=0.02)
    # the lr decays to ~0 so that Adam settles instead of jittering around the regulariser's cusp at 0
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.01 - s / steps)
    for _ in range(steps):  # full batch: the least-squares objective itself, by gradient descent
        opt.zero_grad()
        (torch.nn.functional.mse_loss(net(x), target) + net.penalty()).backward()
        opt.step()
        sched.step()
    return net.coefficients()[0].detach().numpy()


def test_arnet_recovers_the_least_squares_coefficients():
    y = _simulate()
    classic = fit_ar(y, 3)[0, :3]
    arnet = _fit_arnet(y, 3, sparsity=0.0)
    np.testing.assert_allclose(arnet, classic, atol=0.01)
    np.testing.assert_allclose(classic, TRUE, atol=0.05)


def test_sparsity_finds_the_order_when_p_is_over_specified():
    y = _simulate(seed=1)
    w = _fit_arnet(y, 10, sparsity=0.05)
    np.testing.assert_allclose(w[:3], TRUE, atol=0.05)
    assert set(np.flatnonzero(np.abs(w) > 0.1) + 1) == {1, 2, 3}, w  # the lags kept: p = 3
    dense = _fit_arnet(y, 10, sparsity=0.0)
    assert np.abs(w[3:]).sum() < 0.6 * np.abs(dense[3:]).sum(), (w, dense)  # the regulariser shrank the rest
