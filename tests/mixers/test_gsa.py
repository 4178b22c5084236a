"""gsa mixer: the slot count and the state it carries."""

import torch

from rnnzoo import mixers


def test_slots_default_to_the_head_key_dim_and_the_state_holds_both_memories():
    mixer = mixers.build("gsa", d_model=32, num_heads=4)
    hk, hv = mixer.init_state(2)
    assert hk.shape == (2, 4, 8, 8) and hv.shape == (2, 4, 8, 8)
    assert mixer.state_size == 4 * 8 * (8 + 8)
    narrow = mixers.build("gsa", d_model=32, num_heads=4, num_slots=3, expand_v=2.0)
    assert narrow.state_size == 4 * 3 * (8 + 16)


def test_fast_forward_equals_the_reference_loop():
    torch.manual_seed(0)
    mixer = mixers.build("gsa", d_model=16, num_heads=2, num_slots=5).double()
    x = torch.randn(2, 70, 16, dtype=torch.float64)
    state = mixer.init_state(2, dtype=torch.float64)
    y, (hk, hv) = mixer._mix(x, state, "chunk")
    y_ref, (hk_ref, hv_ref) = mixer._mix(x, state, "recurrent")
    torch.testing.assert_close(y, y_ref, atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(hk, hk_ref, atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(hv, hv_ref, atol=1e-10, rtol=1e-10)
