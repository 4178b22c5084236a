"""ttt: forward (dual form) == the token loop of the same mini-batch recurrence, for every mini-batch alignment."""

import pytest
import torch

from rnnzoo import mixers


@pytest.mark.parametrize("m", [1, 3, 4])
def test_forward_equals_steps_across_mini_batches(m):
    torch.manual_seed(0)
    mixer = mixers.build("ttt", 16, num_heads=2, mini_batch_size=m).double()
    x = torch.randn(2, 11, 16, dtype=torch.float64)
    y, state = mixer(x)
    s, ys = None, []
    for t in range(11):
        y_t, s = mixer.step(x[:, t], s)
        ys.append(y_t)
    torch.testing.assert_close(torch.stack(ys, 1), y, atol=1e-10, rtol=1e-10)
    for a, b in zip(s, state):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-10)
