"""routing_attention: when the EMA k-means update happens (forward in training mode only) and that, with the
default decay, eval mode keeps full == split == step."""

import torch

from rnnzoo import mixers
from rnnzoo.testing import run_split, run_steps


def _mixer():
    torch.manual_seed(0)
    return mixers.build("routing_attention", 16, num_heads=4, num_local_heads=2, num_clusters=3, window=3)


def test_training_forward_moves_the_centroids_and_step_and_eval_do_not():
    mixer, x = _mixer(), torch.randn(2, 9, 16)
    before = mixer.centroids.clone()
    mixer.step(x[:, 0])
    assert torch.equal(mixer.centroids, before)
    mixer(x)
    moved = mixer.centroids.clone()
    assert not torch.equal(moved, before)
    torch.testing.assert_close(moved.norm(dim=-1), torch.ones_like(moved[..., 0]))
    mixer.eval()
    mixer(x)
    assert torch.equal(mixer.centroids, moved)


def test_update_is_deterministic():
    a, b, x = _mixer(), _mixer(), torch.randn(2, 9, 16)
    a(x)
    b(x)
    assert torch.equal(a.centroids, b.centroids)


def test_eval_full_equals_split_equals_step():
    mixer, x = _mixer().eval(), torch.randn(2, 11, 16, dtype=torch.float64)
    mixer = mixer.double()
    y, _ = mixer(x)
    torch.testing.assert_close(run_split(mixer, x, [3, 1, 7])[0], y, atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(run_steps(mixer, x)[0], y, atol=1e-10, rtol=1e-10)
