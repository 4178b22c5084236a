"""Piecewise-linear RNN (PLRNN) trained by generalized teacher forcing (GTF).

PLRNN (Koppe et al. 2019; Durstewitz 2017): z_t = A z_{t-1} + W relu(z_{t-1}) + h, with A diagonal and W
off-diagonal (M x M), latent width M >= N; observations are the first N latents, x_t = z_t[:N] (the identity
observation model of Hess et al. 2023).

GTF (Hess, Monfared, Brenner & Durstewitz 2023, Generalized Teacher Forcing for Learning Chaotic Dynamics,
Eq. 5): before each step the latent state is pulled toward the data-inferred state,
z~_t = (1 - alpha) z_t + alpha z^_t, with z^_t = [x_t, z_t[N:]] (data for the observed latents, the model's
own values for the rest), and z_{t+1} = F(z~_t). alpha = 0 is free-running BPTT, alpha = 1 full teacher
forcing; the paper's claim is that an alpha near the system's Lyapunov-derived value keeps gradients
bounded on chaotic data and gives better long-term reconstructions than either end.

```python
model = PLRNN(PLRNNConfig(n_obs=3, latent=20))
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
    latent: int = option(20, "latent dimensions M (>= N; the first N are observed)")
    w_init: float = option(0.02, "standard deviation of the initial off-diagonal weights W")
    a_init: float = option(0.9, "initial diagonal of A")

    def __post_init__(self) -> None:
        if self.n_obs is not None and not 1 <= self.n_obs <= self.latent:
            raise ValueError(f"need 1 <= n_obs <= latent, got n_obs={self.n_obs}, latent={self.latent}")


class PLRNN(nn.Module):
    """z_t = A z_{t-1} + W relu(z_{t-1}) + h (see module). States: [B, M]."""

    def __init__(self, config: PLRNNConfig):
        super().__init__()
        if config.n_obs is None:
            raise ValueError("PLRNNConfig.n_obs is unset; train_dynamics fills it from the system")
        m = config.latent
        self.config = config
        self.a = nn.Parameter(torch.full((m,), config.a_init))
        self.w = nn.Parameter(config.w_init * torch.randn(m, m))
        self.h = nn.Parameter(torch.zeros(m))
        self.register_buffer("off_diagonal", 1 - torch.eye(m))

    def step(self, z: torch.Tensor) -> torch.Tensor:
        """One step of the map F. z: [B, M] -> [B, M]."""
        return self.a * z + torch.relu(z) @ (self.w * self.off_diagonal).T + self.h

    def initial_state(self, x0: torch.Tensor) -> torch.Tensor:
        """The latent state of a first observation: [x0, 0]. x0: [B, N] -> [B, M]."""
        return torch.cat([x0, x0.new_zeros(x0.shape[0], self.config.latent - x0.shape[1])], -1)

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
