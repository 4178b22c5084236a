"""Looking inside mixers and trained models: implicit attention matrices (``Mixer.materialize``) and the state
along a sequence (norms and effective rank per layer, for state collapse). ``rnnzoo inspect`` plots both.

```python
from rnnzoo.inspection import layer_matrix, state_trajectory
m = layer_matrix(model, tokens, layer=0)           # [B, H, T, T], the layer's matrix on the text's activations
traj = state_trajectory(model, tokens, every=64)   # per layer: positions, state norm and effective rank
```
"""

from rnnzoo.inspection.states import effective_rank, layer_matrix, memory_tensor, state_trajectory

__all__ = ["effective_rank", "layer_matrix", "memory_tensor", "state_trajectory"]
