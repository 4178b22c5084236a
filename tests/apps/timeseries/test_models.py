import pytest
import torch

from rnnzoo.apps.timeseries import chimera, scan2d
from rnnzoo.apps.timeseries.models import TSModelConfig, build_model, default_patch_len


def _net(model, classify=False, **kw):
    torch.manual_seed(0)
    cfg = TSModelConfig(model=model, d_model=8, n_layers=1, **kw)
    return build_model(cfg, channels=3, out=4, period=6, lookback=24, classify=classify).eval()


@pytest.mark.parametrize("model, kw", [("gru", {}), ("gru", {"channels": "mixing"}), ("mamba", {"patch_len": 5}),
                                       ("tpgn", {}), ("chimera", {"patch_len": 4}), ("arnet", {})])
def test_forecast_and_logit_shapes(model, kw):
    x = torch.randn(2, 24, 3)
    assert _net(model, **kw)(x).shape == (2, 4, 3)
    if model != "arnet":
        assert _net(model, classify=True, **kw)(x).shape == (2, 4)


@pytest.mark.parametrize("model", ["gru", "tpgn", "arnet"])
def test_channel_independent_models_do_not_read_other_channels(model):
    net, x = _net(model), torch.randn(2, 24, 3)
    if model == "arnet":
        torch.nn.init.normal_(net.linear.weight)  # zero at init
    y = x.clone()
    y[..., 1] += torch.randn(2, 24)
    with torch.no_grad():
        a, b = net(x), net(y)
    torch.testing.assert_close(a[..., [0, 2]], b[..., [0, 2]])
    assert not torch.allclose(a[..., 1], b[..., 1])


@pytest.mark.parametrize("model", ["chimera", "gru:channels"])
def test_channel_mixing_models_read_other_channels(model):
    net = _net("chimera") if model == "chimera" else _net("gru", channels="mixing")
    x = torch.randn(2, 24, 3)
    y = x.clone()
    y[..., 0] += torch.randn(2, 24)  # not a constant: instance normalisation removes a level shift
    with torch.no_grad():
        assert not torch.allclose(net(x)[..., 2], net(y)[..., 2])  # chimera's h2 carries variate 0 to 2


def test_instance_norm_makes_forecasts_shift_with_the_level():
    net, x = _net("lstm"), torch.randn(2, 24, 3)
    with torch.no_grad():
        torch.testing.assert_close(net(x + 5.0), net(x) + 5.0, atol=1e-4, rtol=0)


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="takes no mixer options"):
        TSModelConfig(model="tpgn", mixer_options={"window": 3})
    with pytest.raises(ValueError, match="unknown mixer"):
        TSModelConfig(model="nope")
    with pytest.raises(ValueError, match="nothing to build"):
        build_model(TSModelConfig(model="naive"), channels=1, out=1, period=1, lookback=4, classify=False)


def test_default_tokens_are_steps_up_to_48_then_patches():
    assert [default_patch_len(L, False) for L in (1, 36, 48, 49, 96, 192, 720)] == [1, 1, 1, 2, 2, 4, 15]
    assert default_patch_len(192, True) == 8


def test_patched_chimera_scans_48_tokens_and_matches_the_reference_loop(monkeypatch):
    torch.manual_seed(0)
    net = build_model(TSModelConfig(model="chimera", d_model=8, n_layers=1), channels=2, out=96, period=52,
                      lookback=192, classify=False).eval()
    x = torch.randn(2, 192, 2)
    seen = []
    monkeypatch.setattr(chimera, "scan2d", lambda *a: seen.append(a[0].shape) or scan2d.scan2d_ref(*a))
    with torch.no_grad():
        ref = net(x)
        monkeypatch.setattr(chimera, "scan2d", scan2d.scan2d)
        fast = net(x)
        y = x.clone()
        y[:, 0] += 1.0  # the oldest step is in the first patch, not cut off
        moved = net(y)
    assert ref.shape == (2, 96, 2) and {s[1:3] for s in seen} == {(48, 2)}
    torch.testing.assert_close(fast, ref, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(moved, fast)
