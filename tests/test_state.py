import pytest
import torch

from rnnzoo import mixers
from rnnzoo import state as states
from rnnzoo.models import LanguageModel, LMConfig


def equal_bits(a, b):
    """Same structure, dtypes, shapes and bytes (NaN-safe: compares the bits, not the values)."""
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(equal_bits(x, y) for x, y in zip(a, b))
    return (isinstance(b, tuple) and len(a) == len(b)
            and all(x.dtype == y.dtype and x.shape == y.shape and torch.equal(x.view(torch.uint8) if x.numel() else x,
                                                                             y.view(torch.uint8) if y.numel() else y)
                    for x, y in zip(a, b)))


@pytest.mark.parametrize("name,dtype", [("mamba", torch.float32), ("attention", torch.float64),
                                        ("gla", torch.bfloat16), ("lstm", torch.float32)])
def test_mixer_state_round_trips_bit_exactly(tmp_path, name, dtype):
    mixer = mixers.build(name, 16, **({"num_heads": 2} if name == "gla" else {})).to(dtype)
    _, state = mixer(torch.randn(3, 7, 16, dtype=dtype))
    states.save(tmp_path / "s.safetensors", state, mixer)
    for loaded in (states.load(tmp_path / "s.safetensors", mixer), states.load(tmp_path / "s.safetensors")):
        assert equal_bits(loaded, state)
    y_loaded, _ = mixer(torch.ones(3, 2, 16, dtype=dtype), loaded)
    y_orig, _ = mixer(torch.ones(3, 2, 16, dtype=dtype), state)
    assert torch.equal(y_loaded, y_orig)


def test_model_state_round_trips_and_continues_generation_identically(tmp_path):
    model = LanguageModel(LMConfig(vocab_size=11, mixer="attention", n_layers=2, d_model=16)).eval()
    tokens = torch.randint(0, 11, (2, 6))
    _, state = model.forward_with_state(tokens, None)
    states.save(tmp_path / "lm.safetensors", state, model)
    loaded = states.load(tmp_path / "lm.safetensors", model)
    assert isinstance(loaded, list) and equal_bits(loaded, state)
    assert loaded[0][-1].dtype == torch.int64  # the cache position keeps its integer dtype
    assert torch.equal(model.step(tokens[:, 0], loaded)[0], model.step(tokens[:, 0], state)[0])


def test_state_for_another_mixer_or_config_is_refused(tmp_path):
    mixer = mixers.build("mamba", 16, d_state=4)
    states.save(tmp_path / "s.safetensors", mixer.init_state(2), mixer)
    with pytest.raises(ValueError, match=r"layer 0 state is for another mamba config \(differs in d_state\)"):
        states.load(tmp_path / "s.safetensors", mixers.build("mamba", 16, d_state=8))
    with pytest.raises(ValueError, match="for mixer 'mamba', not 'gru'"):
        states.load(tmp_path / "s.safetensors", mixers.build("gru", 16))
    model = LanguageModel(LMConfig(vocab_size=11, mixer="mamba", n_layers=1, d_model=16, mixer_options={"d_state": 4}))
    with pytest.raises(ValueError, match="holds a mixer state of 1 layer"):
        states.load(tmp_path / "s.safetensors", model)
    with pytest.raises(ValueError, match=r"state has 2 layer\(s\) but LanguageModel has 1 mixer"):
        states.save(tmp_path / "t.safetensors", [mixer.init_state(1)] * 2, model)


def test_corrupt_foreign_and_tampered_files_are_refused(tmp_path):
    mixer = mixers.build("gru", 16)
    good = tmp_path / "s.safetensors"
    states.save(good, mixer.init_state(2), mixer)
    (tmp_path / "cut.safetensors").write_bytes(good.read_bytes()[:-7])
    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file at all")
    for bad in ("cut", "junk"):
        with pytest.raises(ValueError, match="not a readable safetensors file"):
            states.load(tmp_path / f"{bad}.safetensors")
    from safetensors.torch import save_file
    save_file({"w": torch.zeros(2)}, str(tmp_path / "weights.safetensors"))
    with pytest.raises(ValueError, match="not an rnnzoo state file"):
        states.load(tmp_path / "weights.safetensors")
    save_file({"0.0": torch.zeros(2, 5)}, str(tmp_path / "forged.safetensors"),
              metadata={"format": states.FORMAT, "kind": "mixer", "layout": "[1]",
                        "mixers": '[{"mixer": "gru", "config": ' + __import__("json").dumps(
                            states._describe(mixer)["config"]) + "}]"})
    with pytest.raises(ValueError, match=r"state\[0\] has shape \(2, 5\)"):
        states.load(tmp_path / "forged.safetensors", mixer)
    with pytest.raises(FileNotFoundError):
        states.load(tmp_path / "missing.safetensors")


def test_to_moves_floats_and_keeps_integer_bookkeeping():
    mixer = mixers.build("attention", 16)
    _, state = mixer(torch.randn(2, 3, 16))
    moved = states.to([state], dtype=torch.float64)[0]
    assert [t.dtype for t in moved] == [torch.float64 if t.is_floating_point() else t.dtype for t in state]
    assert any(not t.is_floating_point() for t in moved)
    assert torch.equal(moved[0].float(), state[0])
    assert states.to(state, device="meta")[0].device.type == "meta"


def test_detach_state_cuts_the_graph_and_keeps_values():
    mixer = mixers.build("gru", 16)
    _, state = mixer(torch.randn(2, 3, 16))
    assert state[0].requires_grad
    cut = states.detach_state([state])[0]
    assert not cut[0].requires_grad and torch.equal(cut[0], state[0])
    with pytest.raises(ValueError, match="tuple of tensors"):
        states.detach_state({"h": state[0]})
