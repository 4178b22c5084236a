"""Liger conversion: the gated recurrence against a per-step loop, the hybrid's mix, shared projections, LoRA."""
import copy

import pytest
import torch
import torch.nn.functional as F

from rnnzoo.models import LanguageModel, LMConfig
from rnnzoo.ops.attention import softmax_attention
from rnnzoo.ops.rotary import apply_rotary
from rnnzoo.studies.liger_model import LigerMixer, LoRALinear, add_lora, liger_gate, liger_recurrence, linearise


def loop(q, k, v, gate):
    """S_t = exp(g_t) S_{t-1} + softmax(k_t) v_tᵀ, o_t = S_tᵀ softmax(q_t), one step at a time (float64)."""
    q, k, v = q.double(), k.double(), v.double()
    g = F.logsigmoid(k.mean(-1, keepdim=True) if gate == "head" else k) / 16
    s = torch.zeros(q.shape[0], q.shape[2], q.shape[3], v.shape[3], dtype=torch.float64)
    out = []
    for t in range(q.shape[1]):
        s = g[:, t].exp().unsqueeze(-1) * s + k[:, t].softmax(-1).unsqueeze(-1) * v[:, t].unsqueeze(-2)
        out.append(torch.einsum("bhk,bhkv->bhv", q[:, t].softmax(-1), s))
    return torch.stack(out, 1)


@pytest.mark.parametrize("gate", ["head", "channel"])
def test_recurrence_matches_the_per_step_loop(gate):
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 37, 3, 8) * 2 for _ in range(3))
    torch.testing.assert_close(liger_recurrence(q, k, v, gate).double(), loop(q, k, v, gate), atol=1e-5, rtol=1e-5)
    assert liger_gate(k, gate).shape == (k.shape[:3] if gate == "head" else k.shape)
    assert (liger_gate(k, gate) < 0).all()
    with pytest.raises(ValueError, match="gate must be one of"):
        liger_gate(k, "mean")


def lm(mixer="attention", **options):
    torch.manual_seed(0)
    return LanguageModel(LMConfig(vocab_size=11, d_model=16, n_layers=2, mixer=mixer,
                                  mixer_options=options or {"num_heads": 2}))


def test_linearise_reuses_the_projections_and_adds_no_parameter():
    teacher = lm()
    student = linearise(copy.deepcopy(teacher), window=4)
    assert sum(p.numel() for p in student.parameters()) == sum(p.numel() for p in teacher.parameters())
    for a, b in zip(teacher.state_dict().values(), student.state_dict().values()):
        assert torch.equal(a, b)
    mixer = student.blocks[0].mixer
    assert isinstance(mixer, LigerMixer) and student(torch.randint(0, 11, (2, 9))).shape == (2, 9, 11)
    with pytest.raises(ValueError, match="no attention mixer"):
        linearise(lm("gru", d_hidden=16))


def test_liger_attention_is_half_recurrence_half_sliding_window():
    attention = lm().blocks[0].mixer
    mixer = LigerMixer(attention, window=3)
    x = torch.randn(2, 10, 16)
    q, k, v = attention.qkv(x).view(2, 10, 3, 2, 8).unbind(2)
    pos = torch.arange(10).expand(2, 10)
    swa = softmax_attention(apply_rotary(q, pos, 10000.0), apply_rotary(k, pos, 10000.0), v, window=3)
    want = attention.out_proj((0.5 * liger_recurrence(q, k, v) + 0.5 * swa).reshape(2, 10, 16))
    torch.testing.assert_close(mixer(x)[0], want)


def test_lora_starts_at_the_base_map_and_trains_only_the_adapters():
    model = linearise(lm())
    tokens = torch.randint(0, 11, (2, 7))
    before = model(tokens)
    params = add_lora(model, rank=2, alpha=4.0)
    torch.testing.assert_close(model(tokens), before)  # B = 0: the wrapped maps equal the frozen ones
    assert len(params) == 2 * 2 * 2 and all(p.requires_grad for p in params)  # (A, B) x (qkv, out) x 2 layers
    assert not model.embed.weight.requires_grad and isinstance(model.blocks[1].mixer.qkv, LoRALinear)
    model(tokens).sum().backward()
    assert model.blocks[0].mixer.qkv.lora_b.grad.abs().sum() > 0 and model.embed.weight.grad is None
