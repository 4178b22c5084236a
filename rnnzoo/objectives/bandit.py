"""The sampler that reweights Birdie's objectives by their recent loss improvement.

Birdie (Blouir et al. 2024) learns a reward model (a small network fed the objectives' loss vector) that
predicts which mixture improves the losses most. We keep its signal and replace the learned model by a
full-information bandit: discounted Hedge (exponential weights, Freund & Schapire 1997) with EXP3's uniform
exploration mixture (Auer et al. 2002). Every update, each objective k is scored on a held-out batch:

    r_k = (L_k(prev) - L_k(now)) / L_k(prev)          relative loss improvement since the last update
    r_k <- r_k / max_j |r_j|                          normalised to [-1, 1]
    s_k <- decay * s_k + eta * r_k                    discounted score: recent improvement counts most
    p   = (1 - gamma) * softmax(s) + gamma / K        sampling weights, never below gamma / K

so weight moves towards the objectives whose loss is still improving (there is something left to learn) and
away from those that have plateaued or got worse.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class HedgeSampler:
    num_arms: int
    eta: float = 1.0      # step of the scores per normalised reward
    decay: float = 0.5    # weight kept by the old scores at each update
    gamma: float = 0.1    # uniform exploration mixed into the weights
    scores: torch.Tensor = field(init=False)
    last: torch.Tensor | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        if self.num_arms < 1:
            raise ValueError(f"num_arms must be >= 1, got {self.num_arms}")
        if not 0 < self.gamma <= 1 or not 0 <= self.decay <= 1 or self.eta < 0:
            raise ValueError(f"need 0 < gamma <= 1, 0 <= decay <= 1, eta >= 0; got gamma={self.gamma}, "
                             f"decay={self.decay}, eta={self.eta}")
        self.scores = torch.zeros(self.num_arms, dtype=torch.float64)

    def probs(self) -> torch.Tensor:
        """Sampling weights [K] (sum 1)."""
        return (1 - self.gamma) * self.scores.softmax(0) + self.gamma / self.num_arms

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n arm indices [n] int64 drawn from ``probs``."""
        return torch.multinomial(self.probs(), n, replacement=True, generator=generator)

    def update(self, losses: torch.Tensor) -> torch.Tensor:
        """Feed the arms' current held-out losses [K]; returns the rewards [K] (zeros at the first call)."""
        losses = torch.as_tensor(losses, dtype=torch.float64)
        if losses.shape != (self.num_arms,):
            raise ValueError(f"losses must be [{self.num_arms}], got shape {tuple(losses.shape)}")
        if self.last is None:
            self.last = losses
            return torch.zeros_like(losses)
        rewards = (self.last - losses) / self.last.clamp(min=1e-12)
        rewards = rewards / rewards.abs().max().clamp(min=1e-12)
        self.scores = self.decay * self.scores + self.eta * rewards
        self.last = losses
        return rewards
