"""Marked point processes with known intensities, simulated exactly by Ogata's thinning (Ogata 1981).

Every process describes the intensity between two events by a small state: after event j (or from time 0),
the intensity of mark k at elapsed time s is ``rate(state, s)[k]`` and its integral over (0, s] is
``integral(state, s)[k]``, both in closed form; ``advance(state, s, mark)`` is the state after an event of
``mark`` at elapsed time s. Both intensities below are monotone in s between events, so the thinning bound
over a window [s, s + w] is the larger of its two end values.

- ``Hawkes`` (exponential kernel): lambda_k(t) = mu_k + sum_{t_i < t} alpha[k, m_i] beta exp(-beta (t - t_i)).
  State: the excitation x_k just after the last event. Stationary rates (I - alpha)^-1 mu when the spectral
  radius of alpha is < 1.
- ``SelfCorrecting``: lambda_k(t) = exp(mu_k t - sum_{t_i < t} alpha[k, m_i]) (Isham & Westcott 1979).
  State: log lambda_k at the last event.

```python
proc = Hawkes.default()
times, marks = simulate(proc, n_events=64, rng=np.random.default_rng(0))   # [64] float64, [64] int64
proc.log_likelihood(times, marks)                                          # exact, up to the last event
```
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class Process:
    mu: np.ndarray

    @property
    def num_marks(self) -> int:
        return len(self.mu)

    def states(self, times: np.ndarray, marks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(gaps [N], states [N, ...]): state i describes the interval before event i (state 0 starts at 0)."""
        gaps = np.diff(times, prepend=0.0)
        state, out = self.start(), []
        for s, m in zip(gaps, marks):
            out.append(state)
            state = self.advance(state, s, int(m))
        return gaps, np.array(out)

    def log_likelihood(self, times: np.ndarray, marks: np.ndarray) -> float:
        """sum_i log lambda_{m_i}(t_i) - int_0^{t_N} sum_k lambda_k(t) dt (observation ends at the last event)."""
        gaps, states = self.states(times, marks)
        rates = self.rate(states, gaps[:, None])[:, 0]  # [N, K]
        return float(np.log(rates[np.arange(len(marks)), marks]).sum() - self.integral(states, gaps[:, None]).sum())


@dataclass
class Hawkes(Process):
    mu: np.ndarray  # [K] base rates
    alpha: np.ndarray  # [K, K] alpha[k, j]: expected mark-k children of one mark-j event
    beta: float  # decay rate of the kernel

    @classmethod
    def default(cls) -> "Hawkes":
        return cls(np.array([0.2, 0.1, 0.15]),
                   np.array([[0.3, 0.1, 0.0], [0.2, 0.4, 0.1], [0.0, 0.3, 0.2]]), 1.0)

    def stationary_rate(self) -> np.ndarray:
        return np.linalg.solve(np.eye(self.num_marks) - self.alpha, self.mu)

    def start(self) -> np.ndarray:
        return np.zeros(self.num_marks)

    def advance(self, state, s, mark):
        return state * np.exp(-self.beta * s) + self.beta * self.alpha[:, mark]

    def rate(self, state, s):
        """state [..., K], s [..., S] broadcastable -> [..., S, K]."""
        return self.mu + state[..., None, :] * np.exp(-self.beta * s)[..., None]

    def integral(self, state, s):
        return self.mu * s[..., None] + state[..., None, :] * (-np.expm1(-self.beta * s)[..., None]) / self.beta


@dataclass
class SelfCorrecting(Process):
    mu: np.ndarray  # [K] growth of the log-intensity per unit time
    alpha: np.ndarray  # [K, K] alpha[k, j]: drop of log lambda_k at each mark-j event

    @classmethod
    def default(cls) -> "SelfCorrecting":
        return cls(np.array([0.5, 1.0]), np.array([[0.4, 0.2], [0.1, 0.6]]))

    def start(self) -> np.ndarray:
        return np.zeros(self.num_marks)

    def advance(self, state, s, mark):
        return state + self.mu * s - self.alpha[:, mark]

    def rate(self, state, s):
        return np.exp(state[..., None, :] + self.mu * s[..., None])

    def integral(self, state, s):
        return np.exp(state[..., None, :]) * np.expm1(self.mu * s[..., None]) / self.mu


PROCESSES = {"hawkes": Hawkes.default, "self_correcting": SelfCorrecting.default}


def simulate(process: Process, n_events: int, rng: np.random.Generator,
             window: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Ogata thinning: ``n_events`` (times [n] increasing from 0, marks [n]). Candidates come at the rate bound
    of the current window [s, s + window]; a candidate past the window moves s to its end without an event."""
    times, marks = np.empty(n_events), np.empty(n_events, dtype=np.int64)
    state, t, s, i = process.start(), 0.0, 0.0, 0
    while i < n_events:
        ends = process.rate(state, np.array([s, s + window]))
        bound = ends.sum(-1).max()
        e = rng.exponential(1.0 / bound)
        if e > window:
            s += window
            continue
        s += e
        rate = process.rate(state, np.array([s]))[0]
        if rng.uniform() * bound <= rate.sum():  # accepted with probability lambda(s) / bound
            mark = int(rng.choice(process.num_marks, p=rate / rate.sum()))
            t += s
            times[i], marks[i] = t, mark
            state, s, i = process.advance(state, s, mark), 0.0, i + 1
    return times, marks
