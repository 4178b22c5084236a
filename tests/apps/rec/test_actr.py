import math

import torch

from rnnzoo.apps.rec import RecConfig, build_model
from rnnzoo.apps.rec.actr import base_level_activation, base_level_activation_ref


def test_activation_matches_a_hand_computation():
    seq = torch.tensor([[5, 3, 5, 0]])  # one user, right-padded
    act = base_level_activation(seq, n_items=6, decay=0.5, offset=1)  # next item: position t predicts t + 1
    # after reading 5, 3, 5 (t = 2): item 5 used 3 and 1 steps before the predicted item, item 3 two steps before
    assert math.isclose(act[0, 2, 5].item(), math.log(1 + 3 ** -0.5 + 1), rel_tol=1e-6)
    assert math.isclose(act[0, 2, 3].item(), math.log(1 + 2 ** -0.5), rel_tol=1e-6)
    assert act[0, 2, [0, 1, 2, 4, 6]].abs().max() == 0  # never seen, and padding, get 0
    cloze = base_level_activation(seq, n_items=6, decay=0.5, offset=0)  # position t is itself the target
    assert math.isclose(cloze[0, 2, 5].item(), math.log(1 + 2 ** -0.5), rel_tol=1e-6)  # only the 5 at j = 0
    assert math.isclose(cloze[0, 2, 3].item(), math.log(1 + 1), rel_tol=1e-6)


def test_activation_equals_the_reference_loop():
    gen = torch.Generator().manual_seed(0)
    seq = torch.randint(0, 10, (4, 9), generator=gen)  # 9 plays the [MASK] (> n_items), 0 the padding
    for offset in (0, 1):
        torch.testing.assert_close(base_level_activation(seq, 8, 0.7, offset),
                                   base_level_activation_ref(seq, 8, 0.7, offset))


def test_activation_never_reads_the_target_or_later_items():
    gen = torch.Generator().manual_seed(1)
    seq = torch.randint(1, 9, (2, 8), generator=gen)
    for offset in (0, 1):
        t = 4
        changed = seq.clone()
        changed[:, t + offset:] = torch.randint(1, 9, (2, 8 - t - offset), generator=gen)
        before = base_level_activation(seq, 8, 0.5, offset)[:, : t + 1]
        torch.testing.assert_close(base_level_activation(changed, 8, 0.5, offset)[:, : t + 1], before)


def test_model_adds_the_weighted_activation_to_its_scores_and_learns_the_weight():
    torch.manual_seed(0)
    cfg = dict(n_items=6, d_model=8, n_layers=1, n_heads=2, inner_size=16, dropout=0.0)
    plain = build_model(RecConfig(arch="sasrec", **cfg)).eval()
    model = build_model(RecConfig(arch="sasrec", actr=True, **cfg)).eval()
    model.load_state_dict({**plain.state_dict(), "actr_weight": torch.tensor(0.7)})
    seq, lengths = torch.tensor([[5, 3, 5, 0], [2, 0, 0, 0]]), torch.tensor([3, 1])
    extra = model.score(seq, lengths) - plain.score(seq, lengths)
    expected = torch.zeros(2, 7)
    expected[0, 5], expected[0, 3] = math.log(1 + 3 ** -0.5 + 1), math.log(1 + 2 ** -0.5)
    expected[1, 2] = math.log(2)
    torch.testing.assert_close(extra, 0.7 * expected)
    labels = torch.tensor([[3, 5, 1, -100], [4, -100, -100, -100]])
    model.train().loss(seq, lengths, labels).backward()
    assert model.actr_weight.grad is not None and model.actr_weight.grad.abs() > 0
