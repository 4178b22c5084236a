"""Memory mixers (titans, titans_mac, atlas, moneta, yaad, memora): options, persistent tokens, the MAC
attention window, state size. Forward == split calls == step is in test_contract.py."""

import pytest
import torch

from rnnzoo import mixers

NAMES = ["titans", "titans_mac", "atlas", "moneta", "yaad", "memora"]
SMALL = dict(num_heads=2, chunk_size=4)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("option,value,message", [
    ("max_lr", -0.1, "max_lr .* must be >= 0, got -0.1"),
    ("omega_window", 0, "window c must be >= 1, got 0"),
    ("attentional_bias", "l3", "unknown attentional bias 'l3'"),
    ("retention", "l1", "unknown retention 'l1'"),
    ("memory", "transformer", "unknown memory 'transformer'"),
    ("chunk_size", 0, "chunk_size must be >= 1, got 0"),
])
def test_bad_hyperparameters_raise(name, option, value, message):
    with pytest.raises(ValueError, match=message):
        mixers.build(name, 16, **{option: value})


def test_titans_mac_bad_window_raises():
    with pytest.raises(ValueError, match="window must be >= 1, got 0"):
        mixers.build("titans_mac", 16, window=0)


def test_registry_defaults_follow_the_papers():
    cfg = {n: mixers.make_config(n, 16) for n in NAMES}
    moneta = cfg["moneta"]
    assert (moneta.attentional_bias, moneta.retention, moneta.p, moneta.q) == ("lp", "lq", 3.0, 4.0)
    assert (cfg["yaad"].attentional_bias, cfg["yaad"].retention) == ("huber", "l2")
    assert (cfg["memora"].attentional_bias, cfg["memora"].retention) == ("l2", "kl")
    assert cfg["atlas"].omega_window > 1 and cfg["atlas"].poly_degree > 0
    assert cfg["titans"].momentum and not cfg["moneta"].momentum


def test_titans_persistent_tokens_initialise_the_state():
    torch.manual_seed(0)
    with_p = mixers.build("titans", 16, num_persistent=3, **SMALL)
    state = with_p.init_state(2)
    raw = with_p._raw_state(2, None, torch.float32)
    assert int(state[_pos_index(with_p)][0]) == 3  # prefix read
    assert not torch.allclose(state[0], raw[0])
    # The prefix is the same as feeding the persistent tokens first and dropping their outputs.
    no_p = mixers.build("titans", 16, num_persistent=0, **SMALL)
    no_p.load_state_dict({k: v for k, v in with_p.state_dict().items() if k != "persistent"})
    x = torch.randn(2, 6, 16)
    y, _ = with_p(x)
    y_ref, _ = no_p(torch.cat((with_p.persistent.detach().expand(2, 3, 16), x), 1))
    torch.testing.assert_close(y, y_ref[:, 3:], atol=1e-5, rtol=1e-5)


def _pos_index(m):
    mem, _ = m._unpack(m.init_state(1, device="meta"))
    return sum(len(part) for part in mem[:4])


def test_titans_mac_attention_sees_only_its_window_without_memory():
    """With max_lr=0 and input-independent gates the memory never changes with the input, so the output at t
    depends on tokens t-window-conv_size+2..t only (the memory read of token t-window+1, next to it in the
    window, sees conv_size-1 tokens further back); with a learning memory an older token changes it."""
    torch.manual_seed(0)
    w = 4
    x = torch.randn(1, 12, 16)
    x2 = x.clone()
    x2[:, 2] += 1.0  # more than w tokens before the last one
    for max_lr, changes in [(0.0, False), (0.5, True)]:
        m = mixers.build("titans_mac", 16, window=w, conv_size=3, max_lr=max_lr, **SMALL)
        if not changes:
            with torch.no_grad():
                m.gate_proj.weight.zero_()
        y, _ = m(x)
        y2, _ = m(x2)
        assert torch.allclose(y[:, 2 + w + 2:], y2[:, 2 + w + 2:], atol=1e-6) != changes
        assert not torch.allclose(y[:, 2:2 + w], y2[:, 2:2 + w], atol=1e-6)  # inside the window it matters


def test_titans_mac_persistent_keys_are_always_visible():
    torch.manual_seed(0)
    m = mixers.build("titans_mac", 16, window=2, max_lr=0.0, num_persistent=2, **SMALL)
    x = torch.randn(1, 10, 16)
    y, _ = m(x)
    with torch.no_grad():
        m.persistent_kv[1] += 1.0  # persistent values
    y2, _ = m(x)
    assert (y2[:, -1] - y[:, -1]).abs().max() > 1e-4


@pytest.mark.parametrize("name,memory", [("titans", "linear"), ("titans", "mlp"), ("atlas", "mlp"), ("moneta", "mlp")])
def test_state_size_formula(name, memory):
    m = mixers.build(name, 16, memory=memory, **SMALL)
    c = m.config
    h, k = c.num_heads, c.head_dim
    p = h * k * k if memory == "linear" else 2 * h * k * c.expansion * k
    window = (c.omega_window - 1) * h * (2 * k + 1 + (c.attentional_bias == "huber"))
    assert m.state_size == p * (2 + c.momentum) + (c.conv_size - 1) * 3 * h * k + window


@pytest.mark.parametrize("name", ["titans", "atlas", "yaad"])
def test_step_under_inference_mode_equals_step(name):
    torch.manual_seed(0)
    m = mixers.build(name, 16, **SMALL)
    x = torch.randn(2, 6, 16)
    with torch.no_grad():
        y, state = m(x)
        y_ref, _ = m.step(x[:, 0], state)
    with torch.inference_mode():
        y_inf, _ = m.step(x[:, 0], m(x)[1])
    torch.testing.assert_close(y_inf, y_ref)
