import gzip

import pytest
import torch

from rnnzoo.apps.vision.data import load_digits, moving_digits, permutation, pixel_sequence, split


@pytest.fixture(scope="module")
def digits():
    return load_digits()


def test_digits_from_the_wheel(digits):
    images, labels = digits
    assert images.shape == (1797, 8, 8) and labels.shape == (1797,)
    assert images.min() == 0 and images.max() == 1 and set(labels.tolist()) == set(range(10))
    (tx, ty), (vx, vy) = split(images, labels)
    assert len(tx) == 1437 and len(vx) == 360 and torch.equal(split(images, labels)[0][0], tx)


def test_pixel_orders(digits):
    images = digits[0][:5]
    x = pixel_sequence(images, "pixel")
    assert x.shape == (5, 64, 1) and torch.equal(x[:, 9, 0], images[:, 1, 1])
    p = pixel_sequence(images, "permuted", seed=3)
    assert torch.equal(p[..., 0], x[:, permutation(64, 3), 0])
    assert torch.equal(p, pixel_sequence(images, "permuted", seed=3))
    assert not torch.equal(p, pixel_sequence(images, "permuted", seed=4))


def test_moving_digits_deterministic_and_bounded(digits):
    a, la = moving_digits(*digits, n_clips=3, frames=12, canvas=32, n_digits=2, seed=5)
    b, lb = moving_digits(*digits, n_clips=3, frames=12, canvas=32, n_digits=2, seed=5)
    c, _ = moving_digits(*digits, n_clips=3, frames=12, canvas=32, n_digits=2, seed=6)
    assert a.shape == (3, 12, 1, 32, 32) and la.shape == (3, 2)
    assert torch.equal(a, b) and torch.equal(la, lb) and not torch.equal(a, c)
    assert 0 <= a.min() and a.max() <= 1
    assert (a.sum((2, 3, 4)) > 0).all()  # the digits never leave the canvas


def test_digit_moves_by_at_most_three_pixels(digits):
    x, _ = moving_digits(*digits, n_clips=2, frames=30, canvas=20, n_digits=1, scale=1, seed=0)
    ys, xs = torch.meshgrid(torch.arange(20.0), torch.arange(20.0), indexing="ij")
    m = x[:, :, 0]
    w = m.sum((2, 3))
    centre = torch.stack([(m * ys).sum((2, 3)) / w, (m * xs).sum((2, 3)) / w], -1)
    step = (centre[:, 1:] - centre[:, :-1]).norm(dim=-1)
    assert step.max() <= 3 * 2 ** 0.5 + 1e-4


@pytest.mark.parametrize("call, match", [
    (lambda d: pixel_sequence(d[0], "spiral"), "unknown pixel order"),
    (lambda d: pixel_sequence(d[0][0], "pixel"), r"\[N, H, W\]"),
    (lambda d: moving_digits(*d, n_clips=1, canvas=16, scale=2), "canvas 16 is too small"),
    (lambda d: moving_digits(*d, n_clips=0), "n_clips"),
])
def test_bad_inputs(digits, call, match):
    with pytest.raises(ValueError, match=match):
        call(digits)


def test_bad_file(tmp_path):
    path = tmp_path / "digits.csv.gz"
    with gzip.open(path, "wt") as f:
        f.write("1,2,3\n")
    with pytest.raises(ValueError, match="65 comma-separated"):
        load_digits(path)
