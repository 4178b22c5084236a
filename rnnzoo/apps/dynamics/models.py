"""Piecewise-linear RNN (PLRNN) trained by generalized teacher forcing (GTF).

The model is the clipped shallow PLRNN of Hess, Monfared, Brenner & Durstewitz 2023 (Generalized Teacher
Forcing for Learning Chaotic Dynamics, Eq. 8):
  z_t = A z_{t-1} + W1 [relu(W2 z_{t-1} + h2) - relu(W2 z_{t-1})] + h1,
A diagonal (M), W1 (M x L), W2 (L x M), latent width M >= N, hidden width L. The bracket is bounded by |h2|,
so orbits stay bounded whenever |A| < 1 (the plain PLRNN, z_t = A z + W relu(z) + h, can run off to
infinity when generating thousands of steps). Observations are the first N latents, x_t = z_t[:N] (the
paper's identity observation model).

GTF (Eq. 5 of the paper): before each step the latent state is pulled toward the data-inferred state,
z~_t = (1 - alpha) z_t + alpha z^_t, with z^_t = [x_t, z_t[N:]] (data for the observed latents, the model's
own values for the rest), and z_{t+1} = F(z~_t). alpha = 0 is free-running BPTT, alpha = 1 full teacher
forcing; the paper's claim is that an alpha in between keeps gradients bounded on chaotic data and gives
better long-term reconstructions than either end.

```python
model = PLRNN(PLRNNConfig(n_obs=3, latent=3, hidden=50))
pred = gtf_unroll(model, x, alpha=0.3)     # x: [B, T, N] -> predictions of x_1..x_{T-1}: [B, T-1, N]
gen = model.generate(x[:, 0], steps=1000)  # free-running from the first observation: [B, 1000, N]
```
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from rnnzoo.config_args import option


@dataclass
class PLRNNConfig:
    n_obs: int | None = option(None, "observed dimensions N; set from the system", derived=True)
    latent: int | None = option(None, "latent dimensions M (>= N; the first N are observed); None: N")
    hidden: int = option(50, "hidden units L of the shallow PLRNN")
    a_init: float = option(0.9, "initial diagonal of A")

    def __post_init__(self) -> None:
        if self.hidden < 1:
            raise ValueError(f"hidden must be >= 1, got {self.hidden}")
        if self.n_obs is not None and not 1 <= self.n_obs <= self.width:
            raise ValueError(f"need 1 <= n_obs <= latent, got n_obs={self.n_obs}, latent={self.latent}")

    @property
    def width(self) -> int:
        """M: ``latent``, or N when it is None."""
        return self.n_obs if self.latent is None else self.latent


class PLRNN(nn.Module):
    """The clipped shallow PLRNN (see module). States: [B, M]."""

    def __init__(self, config: PLRNNConfig):
        super().__init__()
        if config.n_obs is None:
            raise ValueError("PLRNNConfig.n_obs is unset; train_dynamics fills it from the system")
        m, l = config.width, config.hidden
        self.config = config
        self.a = nn.Parameter(torch.full((m,), config.a_init))
        self.w1 = nn.Parameter(torch.randn(m, l) / l ** 0.5 * 0.1)
        self.w2 = nn.Parameter(torch.randn(l, m) / m ** 0.5)
        self.h1 = nn.Parameter(torch.zeros(m))
        self.h2 = nn.Parameter(torch.rand(l) * 2 - 1)

    def step(self, z: torch.Tensor) -> torch.Tensor:
        """One step of the map F. z: [B, M] -> [B, M]."""
        u = z @ self.w2.T
        return self.a * z + (torch.relu(u + self.h2) - torch.relu(u)) @ self.w1.T + self.h1

    def initial_state(self, x0: torch.Tensor) -> torch.Tensor:
        """The latent state of a first observation: [x0, 0]. x0: [B, N] -> [B, M]."""
        return torch.cat([x0, x0.new_zeros(x0.shape[0], self.config.width - x0.shape[1])], -1)

    def generate(self, x0: torch.Tensor, steps: int) -> torch.Tensor:
        """Free-running observations x_1..x_steps from x0. x0: [B, N] -> [B, steps, N]."""
        z, out = self.initial_state(x0), []
        for _ in range(steps):
            z = self.step(z)
            out.append(z[:, :x0.shape[1]])
        return torch.stack(out, 1)


def gtf_unroll(model: PLRNN, x: torch.Tensor, alpha: float) -> torch.Tensor:
    """Predictions of x_1..x_{T-1} under GTF with mixing ``alpha`` in [0, 1] (module docstring).
    x: [B, T, N] -> [B, T-1, N]; entry t-1 is z_t[:N] before forcing, the value the loss compares to x_t."""
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha (the GTF mixing weight) must be in [0, 1], got {alpha}")
    n = x.shape[-1]
    z, out = model.initial_state(x[:, 0]), []
    for t in range(1, x.shape[1]):
        z = model.step(z)
        out.append(z[:, :n])
        # only the observed latents are forced: z^_t = [x_t, z_t[N:]]
        z = torch.cat([(1 - alpha) * z[:, :n] + alpha * x[:, t], z[:, n:]], -1)
    return torch.stack(out, 1)
