"""fox's forget gate (the contract suite covers the rest)."""

import torch

from rnnzoo import mixers
from rnnzoo.ops.attention import softmax_attention


def test_forget_gate_open_is_softmax_attention_without_positions():
    m = mixers.build("fox", 16, num_heads=2, output_gate=False).double()
    with torch.no_grad():
        m.f_proj.weight.zero_()
        m.f_proj.bias.fill_(60.0)  # f = sigmoid(60): log f ~ -1e-26, no forgetting
    x = torch.randn(2, 7, 16, dtype=torch.float64)
    q, k, v = m.qkv(x).view(2, 7, 3, 2, 8).unbind(2)
    expected = m.out_proj(softmax_attention(q, k, v, mode="recurrent").reshape(2, 7, 16))
    torch.testing.assert_close(m(x)[0], expected, atol=1e-12, rtol=1e-12)


def test_closed_forget_gate_sees_only_the_current_token_and_state_keeps_the_gates():
    m = mixers.build("fox", 16, num_heads=2, output_gate=False).double()
    with torch.no_grad():
        m.f_proj.weight.zero_()
        m.f_proj.bias.fill_(-60.0)  # f ~ exp(-60): every earlier key is forgotten
    x = torch.randn(1, 5, 16, dtype=torch.float64)
    y, (k_cache, v_cache, g_cache, pos) = m(x)
    v = m.qkv(x).view(1, 5, 3, 2, 8)[:, :, 2]
    torch.testing.assert_close(y, m.out_proj(v.reshape(1, 5, 16)), atol=1e-12, rtol=1e-12)
    assert g_cache.shape == (1, 5, 2) and k_cache.shape == (1, 5, 2, 8) and pos.tolist() == [5]
    torch.testing.assert_close(g_cache, torch.full_like(g_cache, -60.0), atol=1e-12, rtol=0)
