import pytest
import torch

from rnnzoo.objectives.bandit import HedgeSampler


def test_weight_moves_to_the_arm_whose_loss_keeps_improving():
    sampler = HedgeSampler(3)
    assert torch.allclose(sampler.probs(), torch.full((3,), 1 / 3, dtype=torch.float64))
    losses = torch.tensor([2.0, 2.0, 2.0])
    assert torch.equal(sampler.update(losses), torch.zeros(3))  # the first call only records
    history = [sampler.probs()]
    for _ in range(5):
        losses = losses * torch.tensor([1.0, 0.9, 1.02])  # arm 1 improves, arm 0 stalls, arm 2 gets worse
        rewards = sampler.update(losses)
        history.append(sampler.probs())
    assert rewards.argmax() == 1 and rewards[1] == 1.0  # normalised by the largest |reward|
    p = torch.stack(history)
    assert (p[1:, 1] > p[:-1, 1]).all()  # arm 1's weight rises at every update
    assert p[-1, 2] < p[-1, 0] < p[-1, 1]
    assert torch.allclose(p.sum(1), torch.ones(len(p), dtype=torch.float64))
    assert (p >= sampler.gamma / 3 - 1e-12).all()  # exploration floor


def test_weight_returns_when_another_arm_starts_improving():
    sampler = HedgeSampler(2, decay=0.5)
    sampler.update(torch.tensor([1.0, 1.0]))
    for _ in range(3):
        sampler.update(sampler.last * torch.tensor([0.9, 1.0]))
    assert sampler.probs()[0] > 0.7
    for _ in range(3):
        sampler.update(sampler.last * torch.tensor([1.0, 0.9]))
    assert sampler.probs()[1] > 0.7  # the discount forgets old improvement


def test_sample_follows_the_weights_and_bad_arguments():
    sampler = HedgeSampler(2, gamma=0.2)
    sampler.scores = torch.tensor([10.0, -10.0], dtype=torch.float64)
    draws = sampler.sample(4000, torch.Generator().manual_seed(0))
    assert abs(float((draws == 1).float().mean()) - 0.1) < 0.03
    with pytest.raises(ValueError, match="losses must be"):
        sampler.update(torch.ones(3))
    with pytest.raises(ValueError, match="gamma"):
        HedgeSampler(2, gamma=0.0)
