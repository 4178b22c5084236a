"""LanguageModel: step-by-step decoding equals the full forward; bad tokens raise (training: tests/mixers/test_training.py)."""

import pytest
import torch

from rnnzoo.models import LanguageModel, LMConfig
from tests.mixers.test_contract import CAUSAL, TEST_OPTIONS


@pytest.mark.parametrize("name", CAUSAL)
def test_step_logits_equal_forward_logits(name):
    torch.manual_seed(0)
    model = LanguageModel(LMConfig(11, 16, 2, name, TEST_OPTIONS.get(name, {}))).double()
    tokens = torch.randint(11, (2, 9))
    full = model(tokens)
    state = model.init_state(2, dtype=torch.float64)
    steps = []
    for t in range(9):
        logits, state = model.step(tokens[:, t], state)
        steps.append(logits)
    torch.testing.assert_close(torch.stack(steps, 1), full, atol=1e-10, rtol=1e-10)


def test_head_is_tied_to_embedding():
    model = LanguageModel(LMConfig(11, 16, 1, "gru"))
    assert model.head.weight is model.embed.weight


def test_bad_tokens_and_configs_raise():
    model = LanguageModel(LMConfig(11, 16, 1, "gru"))
    with pytest.raises(ValueError, match=r"\[0, 11\)"):
        model(torch.tensor([[1, 11]]))
    with pytest.raises(ValueError, match="rank 2"):
        model(torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="int64"):
        model(torch.ones(1, 3))
    with pytest.raises(ValueError, match="valid names"):
        LMConfig(11, mixer="nope")
    with pytest.raises(ValueError, match="no option"):
        LMConfig(11, mixer="gru", mixer_options={"window": 3})


def test_state_size_sums_layers():
    model = LanguageModel(LMConfig(11, 16, 3, "lstm"))
    assert model.state_size == 3 * 2 * 16
    assert LanguageModel(LMConfig(11, 16, 1, "attention")).state_size is None
