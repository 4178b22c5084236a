"""MEAP, mask-enhanced autoregressive prediction (Zhuang et al. 2025, "Mask-Enhanced Autoregressive
Prediction: Pay Less Attention to Learn More"): during next-token training, a fraction of the *input* tokens
is replaced by a mask token; the targets are the unmasked next tokens, unchanged (the paper's pre-training
setting masks 15 % of the inputs of a decoder-only model).

Exactly ``round(fraction * T)`` positions of each row are masked, drawn uniformly without replacement.
Example (T=8, fraction 0.25, mask id M; the targets stay those of the clean sequence):

    inputs : 5 3 9 2 7 1 4 6   ->   5 M 9 2 7 M 4 6
    targets: 3 9 2 7 1 4 6 8        3 9 2 7 1 4 6 8

No target leaks into the input: a masked input only loses information (its token becomes M), and the input
at position t is never a token from t + 1 onwards.

```python
loss_fn = meap_loss(fraction=0.15, mask_id=task.vocab_size)   # the model's vocab_size is one larger
trainer = Trainer(model, config, batch_fn, loss_fn)
```
"""

from __future__ import annotations

import torch
from torch import nn

from rnnzoo.train.trainer import LossFn, lm_loss


def masked_count(seq_len: int, fraction: float) -> int:
    """Masked positions per row: round(fraction * seq_len)."""
    return int(round(fraction * seq_len))


def mask_inputs(inputs: torch.Tensor, fraction: float, mask_id: int,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """inputs [B, T] int64 -> a copy with ``round(fraction * T)`` positions per row set to ``mask_id``."""
    if inputs.dim() != 2:
        raise ValueError(f"inputs must be [B, T], got shape {tuple(inputs.shape)}")
    if not 0 <= fraction < 1:
        raise ValueError(f"MEAP mask fraction must be in [0, 1), got {fraction}")
    k = masked_count(inputs.shape[1], fraction)
    if k == 0:
        return inputs.clone()
    scores = torch.rand(inputs.shape, generator=generator, device=inputs.device if generator is None else "cpu")
    chosen = scores.argsort(1)[:, :k].to(inputs.device)
    return inputs.scatter(1, chosen, mask_id)


def meap_loss(fraction: float, mask_id: int, loss_fn: LossFn = lm_loss) -> LossFn:
    """``loss_fn`` (batch = (inputs, targets, ...)) on the batch with its inputs masked by ``mask_inputs``.
    The mask is drawn from torch's global RNG, which the Trainer seeds and checkpoints."""
    if not 0 < fraction < 1:
        raise ValueError(f"MEAP mask fraction must be in (0, 1), got {fraction}")

    def loss(model: nn.Module, batch: tuple) -> tuple[torch.Tensor, dict[str, float]]:
        inputs, *rest = batch
        return loss_fn(model, (mask_inputs(inputs, fraction, mask_id), *rest))

    return loss
