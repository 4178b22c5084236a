"""Hybrid stacks: the pattern expands as documented, a three-kind stack trains and its step equals its full
forward, bad specs are one-line errors, a checkpoint round-trips (the CLI end to end: tests/apps/test_lm.py)."""

import dataclasses

import pytest
import torch

from rnnzoo.config_args import from_dict
from rnnzoo.models import LanguageModel, LMConfig
from rnnzoo.models.hybrid import layer_mixers, parse_hybrid
from rnnzoo.spec import parse_mixer_spec, split_list
from rnnzoo.train.checkpoint import load_checkpoint, save_checkpoint

SPEC = "hybrid:gla:num_heads=2+mamba+attention"


def test_pattern_expands_as_documented():
    assert parse_hybrid("hybrid:gla:num_heads=2*2 + attention") == (("gla", {"num_heads": 2}),) * 2 + (("attention", {}),)
    assert [n for n, _ in layer_mixers("hybrid:gla*2+attention", 6)] == ["gla", "gla", "attention"] * 2
    assert parse_mixer_spec(" hybrid:gla*2+attention ") == ("hybrid:gla*2+attention", {})  # whole, no options
    assert split_list("gru,hybrid:gla*2+attention,mamba") == ["gru", "hybrid:gla*2+attention", "mamba"]
    model = LanguageModel(LMConfig(11, 16, 6, SPEC))
    assert [type(b.mixer).__name__ for b in model.blocks] == ["GLA", "Mamba", "Attention"] * 2
    assert model.blocks[3].mixer.config.num_heads == 2 and model.state_size is None  # attention grows
    assert LanguageModel(LMConfig(11, 16, 2, "hybrid:gru+lstm")).state_size == 16 + 2 * 16


@pytest.mark.parametrize("spec,message", [
    ("hybrid:", "empty hybrid pattern"),
    ("hybrid:gla+", "bad hybrid element ''"),
    ("hybrid:gla*0", "repeat 0"),
    ("hybrid:nope+gla", "unknown mixer 'nope'; valid names"),
    ("hybrid:gla:nope=1", "options are"),
    ("hybrid:gla:num_heads=two", "num_heads=two"),
    ("hybrid:hydra+gla", "'hydra' in 'hybrid:hydra\\+gla' is not causal"),
    ("hybrid:gla+hybrid:gru", "do not nest"),
    ("hybrid:gla*2+attention", "has 3 layers, which does not divide n_layers=4"),
])
def test_bad_specs_are_one_line_errors(spec, message):
    with pytest.raises(ValueError, match=message) as e:
        LMConfig(11, 16, 4, spec)
    assert "\n" not in str(e.value)


def test_options_beside_a_hybrid_are_refused():
    with pytest.raises(ValueError, match="give each element its own"):
        LMConfig(11, 16, 2, "hybrid:gla+gru", {"num_heads": 2})


def test_step_prefill_and_packing_equal_the_full_forward():
    torch.manual_seed(0)
    model = LanguageModel(LMConfig(11, 16, 3, SPEC)).eval()
    tokens = torch.randint(11, (2, 9))
    with torch.no_grad():
        full = model(tokens)
        state = model.init_state(2)
        steps = []
        for t in range(9):
            logits, state = model.step(tokens[:, t], state)
            steps.append(logits)
        torch.testing.assert_close(torch.stack(steps, 1), full, atol=1e-5, rtol=1e-5)
        head, state = model.forward_with_state(tokens[:, :5], model.init_state(2))  # prefill, then step
        tail = []
        for t in range(5, 9):
            logits, state = model.step(tokens[:, t], state)
            tail.append(logits)
        torch.testing.assert_close(torch.cat([head, torch.stack(tail, 1)], 1), full, atol=1e-5, rtol=1e-5)
        packed = model(tokens.reshape(1, 18), cu_seqlens=torch.tensor([0, 9, 18]))
        torch.testing.assert_close(packed.reshape(2, 9, 11), full, atol=1e-5, rtol=1e-5)


def test_a_three_kind_hybrid_learns_a_repeating_sequence():
    torch.manual_seed(0)
    model = LanguageModel(LMConfig(8, 16, 3, SPEC))
    tokens = torch.arange(33).remainder(8).repeat(4, 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        logits = model(tokens[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 8), tokens[:, 1:].reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.25 * losses[0]


def test_checkpoint_round_trip(tmp_path):
    torch.manual_seed(0)
    model = LanguageModel(LMConfig(11, 16, 3, SPEC))
    save_checkpoint(tmp_path, model, step=1)
    config = from_dict(LMConfig, dataclasses.asdict(model.config))
    assert config == model.config
    loaded = LanguageModel(config)
    load_checkpoint(tmp_path, loaded)
    tokens = torch.randint(11, (1, 7))
    torch.testing.assert_close(loaded(tokens), model(tokens), atol=0, rtol=0)
