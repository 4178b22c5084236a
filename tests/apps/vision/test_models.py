import pytest
import torch

from rnnzoo.apps.vision.models import DigitsModelConfig, build_classifier
from rnnzoo.apps.vision.video import FramePredictor, VideoModelConfig


@pytest.mark.parametrize("arch, shape", [("sequential", (2, 64, 1)), ("lrcn", (2, 4, 1, 16, 16)),
                                         ("plstm2d", (2, 8, 8))])
def test_classifier_logits(arch, shape):
    torch.manual_seed(0)
    model = build_classifier(DigitsModelConfig(arch=arch, mixer="gru", d_model=16, n_layers=1))
    assert model(torch.rand(shape)).shape == (2, 10)


def test_plstm2d_model_modes_agree():
    torch.manual_seed(0)
    model = build_classifier(DigitsModelConfig(arch="plstm2d", d_model=16, n_layers=1, plstm_mode="parallel")).double()
    x = torch.rand(2, 8, 8, dtype=torch.float64)
    y = model(x)
    for layer in model.layers:
        layer.mode = "recurrent"
    torch.testing.assert_close(model(x), y)


def _predictor(arch, seed=0):
    torch.manual_seed(seed)
    return FramePredictor(VideoModelConfig(arch=arch, channels=4, state_channels=6, n_layers=2)).double().eval()


@pytest.mark.parametrize("arch", ["convlstm", "convs5"])
def test_generation_equals_teacher_forced_forward(arch):
    """Each generated frame is what the parallel forward predicts when given the context and the frames
    generated before it."""
    model = _predictor(arch)
    context = torch.rand(2, 5, 1, 16, 16, dtype=torch.float64)
    gen = model.generate(context, 4)
    pred, _ = model(torch.cat([context, gen[:, :-1]], 1))
    torch.testing.assert_close(pred[:, 4:], gen)


def test_convs5_scan_and_recurrent_forward_agree():
    model = _predictor("convs5")
    frames = torch.rand(2, 7, 1, 16, 16, dtype=torch.float64, requires_grad=True)
    outs = []
    for mode in ("chunk", "recurrent"):
        y, states = model(frames, mode=mode)
        grad, = torch.autograd.grad(y.square().sum(), frames)
        outs.append((y, states[-1], grad))
    for a, b in zip(*outs):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("kwargs, match", [(dict(arch="convgru"), "unknown model"), (dict(kernel=2), "odd")])
def test_bad_video_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        VideoModelConfig(**kwargs)


def test_bad_frames():
    with pytest.raises(ValueError, match="multiples of 4"):
        _predictor("convs5")(torch.rand(1, 3, 1, 18, 18, dtype=torch.float64))


@pytest.mark.parametrize("kwargs, match", [(dict(arch="vit"), "unknown model"), (dict(mixer="nope"), "nope"),
                                           (dict(d_model=30), "multiple of 4")])
def test_bad_digits_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DigitsModelConfig(**kwargs)


def test_plstm2d_rejects_another_image_size():
    model = build_classifier(DigitsModelConfig(arch="plstm2d", d_model=8, n_layers=1))
    with pytest.raises(ValueError, match="8, 8"):
        model(torch.rand(1, 6, 6))


@pytest.mark.parametrize("arch, shape", [("tslstm", (2, 8, 1, 16, 16)), ("lightnet2d", (2, 8, 8))])
def test_tslstm_and_lightnet2d_logits(arch, shape):
    torch.manual_seed(0)
    model = build_classifier(DigitsModelConfig(arch=arch, mixer="lstm", d_model=16, n_layers=1, segments=3))
    x = torch.rand(shape, requires_grad=True)
    out = model(x)
    assert out.shape == (2, 10)
    grad, = torch.autograd.grad(out[0].sum(), x)
    assert grad[1].abs().sum() == 0 and grad[0].abs().sum() > 0  # clips / images do not mix across the batch


def test_tslstm_pools_segments_before_the_mixer():
    """Frames within one segment are averaged: permuting them leaves the logits unchanged; moving a frame to
    another segment changes them."""
    torch.manual_seed(0)
    model = build_classifier(DigitsModelConfig(arch="tslstm", mixer="lstm", d_model=16, n_layers=1, segments=2))
    x = torch.rand(1, 6, 1, 16, 16)
    torch.testing.assert_close(model(x[:, [2, 0, 1, 5, 3, 4]]), model(x))
    assert not torch.allclose(model(x[:, [3, 1, 2, 0, 4, 5]]), model(x))
    with pytest.raises(ValueError, match="at least that many frames"):
        model(x[:, :1])
