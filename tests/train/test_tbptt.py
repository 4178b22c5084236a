import pytest
import torch
from torch import nn

from rnnzoo.models import LanguageModel, LMConfig
from rnnzoo.train.tbptt import TBPTTLoss, stream_batches


def test_stream_rows_are_contiguous_and_windows_cycle():
    ids = torch.arange(23)
    batch_fn, n = stream_batches(ids, batch_size=2, window=4)  # rows of 11 tokens: 2 windows of 4
    assert n == 2
    x0, y0, j0 = batch_fn(0)
    x1, y1, j1 = batch_fn(1)
    assert (j0, j1, batch_fn(2)[2]) == (0, 1, 0)
    assert x0.tolist() == [[0, 1, 2, 3], [11, 12, 13, 14]] and x1.tolist() == [[4, 5, 6, 7], [15, 16, 17, 18]]
    assert torch.equal(y0, x0 + 1) and torch.equal(y1, x1 + 1)
    with pytest.raises(ValueError, match="fewer than one window of 12"):
        stream_batches(ids, batch_size=2, window=12)


def grads(model):
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("mixer", ["lstm", "gla"])
def test_tbptt_gradient_equals_the_manually_truncated_gradient(mixer):
    """Window 1's gradient through TBPTTLoss == the gradient of window 1's loss with the state entering it held
    constant, computed token by token through ``step`` (another code path); and != the full BPTT gradient."""
    torch.manual_seed(0)
    model = LanguageModel(LMConfig(vocab_size=7, mixer=mixer, n_layers=2, d_model=16,
                                   mixer_options={"num_heads": 2} if mixer == "gla" else {})).double()
    batch_fn, _ = stream_batches(torch.randint(0, 7, (41,)), batch_size=2, window=5)
    loss_fn = TBPTTLoss()
    for step in range(2):
        model.zero_grad()
        loss, _ = loss_fn(model, batch_fn(step))
        loss.backward()
    tbptt = grads(model)

    (x0, _, _), (x1, y1, _) = batch_fn(0), batch_fn(1)
    with torch.no_grad():  # the state entering window 1, a constant
        state = model.init_state(2, dtype=torch.float64)
        for t in range(x0.shape[1]):
            _, state = model.step(x0[:, t], state)
    model.zero_grad()
    logits = []
    for t in range(x1.shape[1]):
        out, state = model.step(x1[:, t], state)
        logits.append(out)
    nn.functional.cross_entropy(torch.stack(logits, 1).flatten(0, 1), y1.flatten()).backward()
    manual = grads(model)
    assert tbptt.keys() == manual.keys()
    for name in manual:
        torch.testing.assert_close(tbptt[name], manual[name], atol=1e-10, rtol=1e-10)

    model.zero_grad()  # without the cut, window 0's parameters' use shows in window 1's gradient
    logits = model(torch.cat([x0, x1], 1))[:, x0.shape[1]:]
    nn.functional.cross_entropy(logits.flatten(0, 1), y1.flatten()).backward()
    full = grads(model)
    assert any(not torch.allclose(full[n], manual[n], atol=1e-6) for n in manual)
