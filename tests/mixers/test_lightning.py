"""Lightning loads checkpoints saved before its fused qkvu projection was split into q/k/v/u projections."""

import torch

from rnnzoo import mixers
from rnnzoo.models import LanguageModel, LMConfig


def test_a_fused_qkvu_checkpoint_loads_into_the_split_projections():
    torch.manual_seed(0)
    model = LanguageModel(LMConfig(16, 16, 2, "lightning", {"num_heads": 2}))
    old = {}
    for key, value in model.state_dict().items():
        if key.endswith(("q_proj.weight", "k_proj.weight", "v_proj.weight", "u_proj.weight")):
            base = key.rsplit(".", 2)[0]
            old.setdefault(base + ".qkvu.weight", []).append(value)
        else:
            old[key] = value
    old = {k: torch.cat(v, 0) if isinstance(v, list) else v for k, v in old.items()}
    assert sum(k.endswith("qkvu.weight") for k in old) == 2 and not any("q_proj" in k for k in old)
    torch.manual_seed(1)
    fresh = LanguageModel(LMConfig(16, 16, 2, "lightning", {"num_heads": 2}))
    x = torch.randint(0, 16, (2, 7))
    assert not torch.allclose(fresh(x)[0], model(x)[0])
    fresh.load_state_dict(old)  # strict: every split weight is filled from the fused one
    torch.testing.assert_close(fresh(x)[0], model(x)[0], rtol=0, atol=0)
    assert isinstance(mixers.build("lightning", d_model=16, num_heads=2).q_proj, torch.nn.Linear)
