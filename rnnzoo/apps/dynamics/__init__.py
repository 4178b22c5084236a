"""Chaotic dynamical systems: exact RK4 trajectories, a PLRNN trained by generalized teacher forcing, and
the long-term reconstruction measures D_stsp and D_H.

```python
from rnnzoo.apps.dynamics import DynamicsConfig, train_dynamics
r = train_dynamics(DynamicsConfig(system="lorenz63", gtf=0.3))   # {"test": {"d_stsp": ..., "d_h": ...}, ...}
```
"""

from rnnzoo.apps.dynamics.metrics import power_spectrum_distance, state_space_divergence
from rnnzoo.apps.dynamics.models import PLRNN, PLRNNConfig, gtf_unroll
from rnnzoo.apps.dynamics.systems import SYSTEMS, integrate, rk4_step, trajectory
from rnnzoo.apps.dynamics.train import DynamicsConfig, load_data, train_dynamics

__all__ = ["power_spectrum_distance", "state_space_divergence", "PLRNN", "PLRNNConfig", "gtf_unroll", "SYSTEMS",
           "integrate", "rk4_step", "trajectory", "DynamicsConfig", "load_data", "train_dynamics"]
