"""Neural marked temporal point processes: exactly simulated Hawkes and self-correcting data (or a user's CSV),
a history encoder of any causal registry mixer, RMTPP and Neural-Hawkes-style intensity heads, EasyTPP's metrics
and the gap to the true process's log-likelihood.

```python
from rnnzoo.apps.tpp import TPPTrainConfig, train_tpp
result = train_tpp(TPPTrainConfig())      # {"test": {"ll_per_event", "rmse", "mark_accuracy"}, "true": {...}}
```
"""

from rnnzoo.apps.tpp.data import EventData, read_events, simulated
from rnnzoo.apps.tpp.models import TPPConfig, TPPModel
from rnnzoo.apps.tpp.simulate import Hawkes, SelfCorrecting, simulate
from rnnzoo.apps.tpp.train import TPPTrainConfig, train_tpp

__all__ = ["EventData", "read_events", "simulated", "TPPConfig", "TPPModel", "Hawkes", "SelfCorrecting",
           "simulate", "TPPTrainConfig", "train_tpp"]
