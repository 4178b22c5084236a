import pytest
import torch

from rnnzoo import tasks
from rnnzoo.models import LanguageModel, LMConfig
from rnnzoo.objectives.meap import mask_inputs, meap_loss


def test_masks_exactly_the_fraction_and_only_replaces_by_the_mask_token():
    inputs = torch.randint(0, 50, (16, 40))
    masked = mask_inputs(inputs, 0.15, mask_id=50, generator=torch.Generator().manual_seed(0))
    changed = masked != inputs
    assert (changed.sum(1) == 6).all()  # round(0.15 * 40)
    assert (masked[changed] == 50).all()
    assert torch.equal(masked[~changed], inputs[~changed])
    assert not torch.equal(changed[0], changed[1])  # rows draw their own positions


def test_zero_fraction_and_bad_fraction():
    inputs = torch.randint(0, 5, (2, 8))
    assert torch.equal(mask_inputs(inputs, 0.0, 5), inputs)
    with pytest.raises(ValueError, match="fraction"):
        mask_inputs(inputs, 1.0, 5)
    with pytest.raises(ValueError, match="fraction"):
        meap_loss(0.0, 5)


def test_loss_sees_masked_inputs_and_unchanged_targets():
    task = tasks.build("mqar", vocab=32, num_kv_pairs=2, seq_len=16)
    inputs, targets = task.make("train", 4, 0)
    seen = {}

    def spy(model, batch):
        seen["inputs"], seen["targets"] = batch
        return torch.zeros(()), {}

    torch.manual_seed(0)
    meap_loss(0.25, mask_id=32, loss_fn=spy)(None, (inputs, targets))
    assert torch.equal(seen["targets"], targets)
    assert ((seen["inputs"] == 32).sum(1) == 4).all()
    # no leak: wherever the input is not masked it is the clean token, never a later (target) token
    keep = seen["inputs"] != 32
    assert torch.equal(seen["inputs"][keep], inputs[keep])


def test_trains_a_model_through_the_trainer_loss():
    task = tasks.build("mqar", vocab=32, num_kv_pairs=2, seq_len=16)
    model = LanguageModel(LMConfig(33, 16, 1, "gla"))
    loss, metrics = meap_loss(0.15, 32)(model, task.make("train", 4, 0))
    loss.backward()
    assert torch.isfinite(loss) and "acc" in metrics
