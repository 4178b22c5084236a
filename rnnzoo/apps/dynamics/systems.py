"""Chaotic systems integrated with fixed-step RK4 in float64: Lorenz-63, Rössler, Lorenz-96.

```python
x = trajectory("lorenz63", steps=20_000, dt=0.01, seed=0)      # [20000, 3] float64, after a 10-unit transient
x = trajectory("lorenz96", steps=5_000, seed=1, noise=0.05)     # [5000, 10], 5% observation noise
```

Parameters are the standard chaotic ones: Lorenz (1963) sigma=10, rho=28, beta=8/3; Rössler (1976)
a=0.2, b=0.2, c=5.7; Lorenz (1996) N=10 variables, forcing F=8. The initial state is drawn per seed around
a point of the attractor's basin; a transient of ``transient`` time units is integrated and dropped, so
every trajectory starts on the attractor. RK4 at dt=0.01 agrees with ``scipy.integrate.solve_ivp`` (DOP853,
rtol = atol = 1e-12) to 2e-5 of the state's scale over one time unit, with fourth-order convergence in dt
(tests/apps/dynamics/test_systems.py).
"""

from __future__ import annotations

from typing import Callable

import torch

Field = Callable[[torch.Tensor], torch.Tensor]


def lorenz63(x: torch.Tensor, sigma: float = 10.0, rho: float = 28.0, beta: float = 8.0 / 3.0) -> torch.Tensor:
    """dx/dt of Lorenz-63. x: [..., 3] -> [..., 3]."""
    a, b, c = x.unbind(-1)
    return torch.stack([sigma * (b - a), a * (rho - c) - b, a * b - beta * c], -1)


def rossler(x: torch.Tensor, a: float = 0.2, b: float = 0.2, c: float = 5.7) -> torch.Tensor:
    """dx/dt of the Rössler system. x: [..., 3] -> [..., 3]."""
    u, v, w = x.unbind(-1)
    return torch.stack([-v - w, u + a * v, b + w * (u - c)], -1)


def lorenz96(x: torch.Tensor, forcing: float = 8.0) -> torch.Tensor:
    """dx_i/dt = (x_{i+1} - x_{i-2}) x_{i-1} - x_i + F, indices cyclic. x: [..., N] -> [..., N]."""
    return (x.roll(-1, -1) - x.roll(2, -1)) * x.roll(1, -1) - x + forcing


# name -> (vector field, state dimension, centre of the initial states, their spread)
SYSTEMS: dict[str, tuple[Field, int, tuple[float, ...], float]] = {
    "lorenz63": (lorenz63, 3, (0.0, 1.0, 20.0), 5.0),
    "rossler": (rossler, 3, (0.0, -5.0, 0.0), 1.0),
    "lorenz96": (lorenz96, 10, (8.0,) * 10, 1.0),
}


def check_system(name: str) -> None:
    if name not in SYSTEMS:
        raise ValueError(f"unknown system {name!r}; choose one of {sorted(SYSTEMS)}")


def rk4_step(f: Field, x: torch.Tensor, dt: float) -> torch.Tensor:
    """One classical Runge-Kutta step of dx/dt = f(x). x: [..., N]."""
    k1 = f(x)
    k2 = f(x + 0.5 * dt * k1)
    k3 = f(x + 0.5 * dt * k2)
    k4 = f(x + dt * k3)
    return x + dt / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)


def integrate(f: Field, x0: torch.Tensor, steps: int, dt: float) -> torch.Tensor:
    """RK4 trajectory x_1..x_steps from x0 (float64). x0: [..., N] -> [steps, ..., N]."""
    x, out = x0.double(), []
    for _ in range(steps):
        x = rk4_step(f, x, dt)
        out.append(x)
    return torch.stack(out)


def trajectory(system: str, steps: int, dt: float = 0.01, seed: int = 0, noise: float = 0.0,
               transient: float = 10.0) -> torch.Tensor:
    """``steps`` states of ``system`` every ``dt`` time units, [steps, N] float64, from a per-seed initial state
    after ``transient`` time units; ``noise`` adds Gaussian observation noise of that fraction of each
    coordinate's standard deviation (the states themselves stay exact)."""
    return trajectories(system, steps, dt, (seed,), noise, transient)[0]


def trajectories(system: str, steps: int, dt: float = 0.01, seeds: tuple[int, ...] = (0,), noise: float = 0.0,
                 transient: float = 10.0) -> torch.Tensor:
    """``trajectory`` for several seeds, integrated together (one RK4 loop): [len(seeds), steps, N]; entry i
    equals ``trajectory(..., seed=seeds[i], ...)``."""
    check_system(system)
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if not dt > 0:
        raise ValueError(f"dt must be > 0, got {dt}")
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    f, n, centre, spread = SYSTEMS[system]
    gens = [torch.Generator().manual_seed(s) for s in seeds]
    x0 = torch.stack([torch.tensor(centre, dtype=torch.float64) + spread * torch.randn(n, generator=g,
                                                                                       dtype=torch.float64)
                      for g in gens])
    burn = int(round(transient / dt))
    x = integrate(f, x0, burn + steps, dt)[burn:].transpose(0, 1)  # [S, steps, N]
    if noise:
        x = torch.stack([xi + noise * xi.std(0) * torch.randn(xi.shape, generator=g, dtype=torch.float64)
                         for xi, g in zip(x, gens)])
    return x
