"""In-context linear regression: the generator's statistics, the baselines against numpy's solutions, and
the model's causality (the prediction at x_i never sees y_i)."""

import numpy as np
import pytest
import torch

from rnnzoo.tasks import icl_regression as icl
from rnnzoo.tasks.icl_regression import ICLRegression, ICLRegressionModel


def test_generator_is_linear_seeded_and_gaussian():
    task = ICLRegression(dim=4, n_points=12)
    xs, ys = task.make("train", 2000, 0)
    assert xs.shape == (2000, 12, 4) and ys.shape == (2000, 12) and xs.dtype == torch.float32
    w = torch.linalg.lstsq(xs.double(), ys.double()[..., None]).solution  # 12 >= d points pin w down
    assert torch.allclose(xs.double() @ w, ys.double()[..., None], atol=1e-4)
    assert abs(float(xs.mean())) < 0.02 and abs(float(xs.var()) - 1) < 0.02
    assert abs(float(ys.var()) - 4) < 0.2  # E[(w.x)^2] = d for w, x ~ N(0, I)
    assert abs(float(w.var()) - 1) < 0.1  # a fresh w per sequence
    again = task.make("train", 2000, 0)
    assert torch.equal(xs, again[0]) and torch.equal(ys, again[1])
    assert not torch.equal(xs, task.make("test", 2000, 0)[0])
    noisy_x, noisy_y = ICLRegression(dim=4, n_points=12, noise_std=0.5).make("train", 2000, 0)
    assert abs(float(noisy_y.var()) - 4.25) < 0.25


def test_interleave_puts_x_then_y():
    xs, ys = torch.arange(6.).reshape(1, 3, 2), torch.tensor([[10., 11., 12.]])
    seq = icl.interleave(xs, ys)
    assert seq.shape == (1, 6, 3)
    assert seq[0].tolist() == [[0, 1, 0], [0, 0, 10], [2, 3, 0], [0, 0, 11], [4, 5, 0], [0, 0, 12]]


def test_baselines_match_numpy_on_every_prefix():
    xs, ys = ICLRegression(dim=5, n_points=9, noise_std=0.3).make("valid", 6, 2)
    xs, ys = xs.double(), ys.double()
    ls, ridge = icl.least_squares_predictions(xs, ys), icl.ridge_predictions(xs, ys, lam=0.7)
    for b in range(6):
        X, y = xs[b].numpy(), ys[b].numpy()
        assert ls[b, 0] == ridge[b, 0] == 0
        for i in range(1, 9):
            w_ls = np.linalg.lstsq(X[:i], y[:i], rcond=None)[0]  # minimum norm when i < d
            w_ridge = X[:i].T @ np.linalg.solve(X[:i] @ X[:i].T + 0.7 * np.eye(i), y[:i])  # the dual form
            assert ls[b, i].item() == pytest.approx(X[i] @ w_ls, abs=1e-8)
            assert ridge[b, i].item() == pytest.approx(X[i] @ w_ridge, abs=1e-8)


def test_evaluate_reports_the_papers_curves_and_the_model_is_causal():
    torch.manual_seed(0)
    task = ICLRegression(dim=4, n_points=10)
    model = ICLRegressionModel(dim=4, d_model=16, n_layers=1)
    errors = icl.evaluate(model, task, n=400, seed=0)
    assert set(errors) == {"model", "least_squares", "ridge"} and all(len(v) == 10 for v in errors.values())
    ls = errors["least_squares"]
    assert abs(ls[0] - 4) < 0.5 and abs(ls[2] - 2) < 0.4  # noiseless min-norm: about d - i below d
    assert max(ls[4:]) < 1e-6 and max(errors["ridge"][6:]) < 0.05  # exact from d points on
    xs, ys = task.make("train", 3, 0)
    changed = ys.clone()
    changed[:, 5] += 10
    before, after = model(xs, ys), model(xs, changed)
    assert torch.equal(before[:, :6], after[:, :6]) and not torch.allclose(before[:, 6:], after[:, 6:])


def test_bad_parameters_raise_one_line_errors():
    with pytest.raises(ValueError, match="dim and n_points must be >= 1"):
        ICLRegression(dim=0)
    with pytest.raises(ValueError, match="ridge_lambda > 0"):
        ICLRegression(ridge_lambda=0)
    with pytest.raises(ValueError, match=r"need xs \[n, k, 4\]"):
        ICLRegressionModel(dim=4, d_model=16, n_layers=1)(torch.zeros(2, 3, 5), torch.zeros(2, 3))


@pytest.mark.slow
def test_a_trained_model_beats_the_zero_predictor_with_context():
    torch.manual_seed(0)
    task = ICLRegression(dim=4, n_points=12)
    model = ICLRegressionModel(dim=4, d_model=64, n_layers=2)
    opt = torch.optim.AdamW(model.parameters(), 1e-3)
    for step in range(400):
        xs, ys = task.make("train", 64, step)
        loss = icl.squared_error(model(xs, ys), ys).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    errors = icl.evaluate(model, task, n=512, seed=0)["model"]
    assert errors[-1] < 0.6 * errors[0]  # context helps; the zero predictor scores d = 4 everywhere
