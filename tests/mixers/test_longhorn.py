"""longhorn mixer: the state is d_inner x d_state plus the conv window; beta starts near 1/2 (dt_head bias 0)."""

import torch

from rnnzoo import mixers


def test_state_and_init():
    mixer = mixers.build("longhorn", d_model=16, d_state=4)
    conv, s = mixer.init_state(3)
    assert s.shape == (3, 32, 4) and mixer.state_size == 32 * (4 + 3)
    assert torch.equal(mixer.dt_head.bias, torch.zeros(32))


def test_fast_forward_equals_the_reference_loop_across_time_blocks():
    torch.manual_seed(0)
    mixer = mixers.build("longhorn", d_model=8, d_state=4).double()
    x = torch.randn(2, 300, 8, dtype=torch.float64)  # crosses the op's 256-token blocks
    state = mixer.init_state(2, dtype=torch.float64)
    y, (_, s) = mixer._mix(x, state, "chunk")
    y_ref, (_, s_ref) = mixer._mix(x, state, "recurrent")
    torch.testing.assert_close(y, y_ref, atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(s, s_ref, atol=1e-10, rtol=1e-10)
