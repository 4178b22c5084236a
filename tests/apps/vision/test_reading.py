import pytest
import torch

from rnnzoo.apps.vision.data import load_digits, moving_digits
from rnnzoo.apps.vision.models import DigitsModelConfig, LRCNReader
from rnnzoo.apps.vision.reading import BLANK, ctc_greedy, ctc_loss, edit_distance, reading_clips, reading_scores
from rnnzoo.apps.vision.train_digits import DigitsConfig, train_digits
from rnnzoo.config_args import override


@pytest.fixture(scope="module")
def digits():
    images, labels = load_digits()
    return images[:50], labels[:50]


def test_reading_clips_show_the_digits_in_order(digits):
    frames, targets = reading_clips(*digits, n=3, n_digits=4, frames_per_digit=5, canvas=16, seed=2)
    assert frames.shape == (3, 20, 1, 16, 16) and targets.shape == (3, 4)
    again = reading_clips(*digits, n=3, n_digits=4, frames_per_digit=5, canvas=16, seed=2)
    assert torch.equal(frames, again[0]) and torch.equal(targets, again[1])
    assert not torch.equal(frames, reading_clips(*digits, 3, 4, 5, 16, seed=3)[0])
    # clip c's segment d is the d-th single-digit clip of the same seed, and the target is its digit
    single, labels = moving_digits(*digits, n_clips=12, frames=5, canvas=16, n_digits=1, scale=1, seed=2)
    assert torch.equal(frames[1, 10:15], single[6]) and targets[1, 2] == labels[6, 0]


def test_reading_clips_reject_empty_segments(digits):
    with pytest.raises(ValueError, match="frames_per_digit"):
        reading_clips(*digits, n=1, n_digits=2, frames_per_digit=0, canvas=16, seed=0)


def _path(labels, t_classes=11):
    return torch.nn.functional.one_hot(torch.tensor(labels), t_classes).float().mul(20).log_softmax(-1)


def test_greedy_decoding_collapses_repeats_and_drops_blanks():
    b = BLANK
    paths = torch.stack([_path([3, 3, b, 3, 7, 7]), _path([b, b, b, b, b, b]), _path([1, 2, 2, b, b, 2])])
    assert ctc_greedy(paths) == [[3, 3, 7], [], [1, 2, 2]]


def test_ctc_loss_prefers_the_right_string():
    log_probs = _path([3, 3, BLANK, 3, 7, 7])[None]
    right, wrong = ctc_loss(log_probs, torch.tensor([[3, 3, 7]])), ctc_loss(log_probs, torch.tensor([[3, 7, 7]]))
    assert right < 0.01 < wrong


def test_edit_distance_and_scores():
    assert edit_distance([1, 2, 3], [1, 2, 3]) == 0
    assert edit_distance([1, 3], [1, 2, 3]) == 1 and edit_distance([], [4, 5]) == 2
    assert edit_distance([1, 2, 3], [3, 2, 1]) == 2
    s = reading_scores([[1, 2], [3]], torch.tensor([[1, 2], [3, 4]]))
    assert s == {"acc": 0.5, "digit_error": 0.25}


def test_reader_emits_log_probabilities_per_frame():
    torch.manual_seed(0)
    model = LRCNReader(DigitsModelConfig(arch="lrcn", mixer="gru", d_model=8, n_layers=1))
    out = model(torch.rand(2, 6, 1, 16, 16))
    assert out.shape == (2, 6, 11)
    torch.testing.assert_close(out.logsumexp(-1), torch.zeros(2, 6))


def test_tiny_reading_run():
    r = train_digits(override(DigitsConfig(), arch="lrcn", mixer="gru", d_model=8, n_layers=1, steps=2, batch_size=4,
                              clip_digits=2, clip_frames=3, progress=False))
    assert 0 <= r["test"]["acc"] <= 1 and r["test"]["digit_error"] >= 0 and r["clip_digits"] == 2


@pytest.mark.parametrize("kwargs, match", [(dict(clip_digits=0), "clip_digits must be"),
                                           (dict(clip_digits=2, arch="sequential"), "needs --model lrcn")])
def test_bad_reading_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        override(DigitsConfig(), **kwargs)
