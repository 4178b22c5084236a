"""mesanet: the CG solve (default 30 steps) gives the exact solve's output; lamb starts at lambda_init."""

import torch
import torch.nn.functional as F

from rnnzoo import mixers


def test_cg_mixer_matches_the_exact_solve():
    torch.manual_seed(0)
    cg = mixers.build("mesanet", 16, num_heads=2, chunk_size=4).double()
    exact = mixers.build("mesanet", 16, num_heads=2, chunk_size=4, cg_steps=None).double()
    exact.load_state_dict(cg.state_dict())
    x = torch.randn(2, 19, 16, dtype=torch.float64)
    torch.testing.assert_close(cg(x)[0], exact(x)[0], atol=1e-8, rtol=1e-8)


def test_lambda_starts_at_its_init():
    m = mixers.build("mesanet", 16, num_heads=2, lambda_init=1.5)
    lamb = F.softplus(m.lambda_params) + m.config.lambda_lower_bound
    torch.testing.assert_close(lamb, torch.full_like(lamb, 1.5))
