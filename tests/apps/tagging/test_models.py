import pytest
import torch

from rnnzoo.apps.tagging.metrics import tag_metrics
from rnnzoo.apps.tagging.models import Tagger, TaggerConfig
from rnnzoo.apps.tagging.train import windows


def tagger(mixer="gru", global_context=True):
    torch.manual_seed(0)
    return Tagger(TaggerConfig(vocab_size=20, num_tags=7, mixer=mixer, d_model=16,
                               global_context=global_context)).double().eval()


@pytest.mark.parametrize("mixer", ["gru", "attention", "mamba"])
@pytest.mark.parametrize("global_context", [True, False])
def test_every_position_sees_the_whole_window_and_padding_is_ignored(mixer, global_context):
    model = tagger(mixer, global_context)
    chars = torch.randint(1, 20, (2, 9))
    base = model(chars)
    later = chars.clone()
    later[:, -1] = (later[:, -1] % 19) + 1  # the last character changes the first position's tags: bidirectional
    assert not torch.allclose(model(later)[:, 0], base[:, 0])
    padded = torch.cat((chars[:1, :6], torch.zeros(1, 3, dtype=torch.long)), 1)
    torch.testing.assert_close(model(padded, torch.tensor([6]))[:, :6], model(chars[:1, :6]))


def test_global_context_changes_the_model():
    assert sum(p.numel() for p in tagger().parameters()) > sum(p.numel() for p in tagger(global_context=False).parameters())


def test_windows_cover_every_character_once():
    ids, tags = torch.arange(10).numpy(), (torch.arange(10) % 3).numpy()
    chars, labels, lengths = windows(ids, tags, 4)
    assert lengths.tolist() == [4, 4, 2]
    real = torch.arange(4) < lengths[:, None]
    assert chars[real].tolist() == list(range(10)) and labels[real].tolist() == (torch.arange(10) % 3).tolist()


def test_tag_metrics_by_hand():
    import numpy as np

    m = tag_metrics(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]), ("a", "b"))
    assert m["accuracy"] == 0.75
    assert m["f1"]["a"] == pytest.approx(2 / 3) and m["f1"]["b"] == pytest.approx(0.8)  # P 1, R 2/3
    assert m["macro_f1"] == pytest.approx((2 / 3 + 0.8) / 2)
