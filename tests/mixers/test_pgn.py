"""PGN: the state is the HIE window, and the output is the paper's single-gate fusion."""

import torch

from rnnzoo import mixers


def test_state_is_the_last_window_inputs_and_the_gate_fuses_h_with_x():
    torch.manual_seed(0)
    mixer = mixers.build("pgn", 8, window=3)
    assert mixer.state_size == 3 * 8
    x = torch.randn(2, 7, 8)
    y, (window,) = mixer(x)
    torch.testing.assert_close(window, x[:, -3:].transpose(1, 2))
    # closed form at t = 4: H_4 = W [x_1, x_2, x_3] + b; G, C from [x_4, H_4]
    h = torch.einsum("hdw,bdw->bh", mixer.hie_weight, x[:, 1:4].transpose(1, 2)) + mixer.hie_bias
    g, c = mixer.gate(torch.cat((x[:, 4], h), -1)).chunk(2, -1)
    want = mixer.out_proj(torch.sigmoid(g) * h + (1 - torch.sigmoid(g)) * torch.tanh(c))
    torch.testing.assert_close(y[:, 4], want)
