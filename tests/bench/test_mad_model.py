"""MAD's backbones: mixer and SwiGLU layers alternating; the compression model's only path is the last position."""

import torch

from rnnzoo.bench.mad_model import MADAutoEncoder, MADLanguageModel, SwiGLU


def test_swiglu_width_and_language_model_layout():
    assert SwiGLU(128).gate.out_features == 352  # int(8 * 128 / 3) = 341, up to a multiple of 16
    model = MADLanguageModel(16, 32, "gru")
    assert len(model.layers.mixers) == 2 and len(model.layers.mlps) == 2
    assert model(torch.randint(16, (2, 9))).shape == (2, 9, 16) and model.state_size == 2 * 32


def test_autoencoder_sees_the_input_only_through_the_last_position():
    torch.manual_seed(0)
    model = MADAutoEncoder(16, 32, "attention")
    tokens = torch.randint(15, (1, 8))
    out = model(tokens)
    assert out.shape == (1, 8, 16)
    # every output position is a function of one vector: the encoding at the last position
    code = model.layers(model.embed(tokens))[:, -1]
    from rnnzoo.bench.mad_model import sincos
    again = model.head(model.decoder(code[:, None] + sincos(8, 32)[None]))
    assert torch.allclose(out, again)
    changed = tokens.clone()
    changed[0, 0] = (changed[0, 0] + 1) % 15
    assert not torch.allclose(model(changed), out)  # the first token still reaches the code (causal mixer)
