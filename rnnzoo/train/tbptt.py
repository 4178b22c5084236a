"""Truncated backpropagation through time over one long token stream.

The stream is cut into ``batch_size`` contiguous rows (row b continues where row b - 1's text ends), and each
row into windows of ``window`` tokens. Step s trains on window ``s mod n_windows`` of every row, starting
from the state the previous window left, detached: the forward pass sees the whole history, the gradient
stops at the window's start. Window 0 starts from the zero state.

```python
batch_fn, n_windows = stream_batches(ids, batch_size=32, window=128)   # ids: [N] int64
trainer = Trainer(model, TrainConfig(steps=2000), batch_fn, TBPTTLoss())
```

A resumed run starts its carried state from zero at the window it resumes at (the state is not part of
the checkpoint), and the loss calls ``forward_with_state``, which DistributedDataParallel does not wrap: it
runs in one process.
"""

from __future__ import annotations

import torch
from torch import nn

from rnnzoo.models.lm import ModelState
from rnnzoo.state import detach_state


def stream_batches(ids: torch.Tensor, batch_size: int, window: int):
    """ids: [N] -> (batch_fn, n_windows): ``batch_fn(step)`` is (inputs [batch_size, window],
    targets [batch_size, window], window index); targets are the inputs shifted by one token."""
    row = (len(ids) - 1) // batch_size
    n_windows = row // window
    if n_windows < 1:
        raise ValueError(f"a stream of {len(ids)} tokens in {batch_size} rows has {row} tokens per row, fewer "
                         f"than one window of {window}")
    starts = torch.arange(batch_size) * row

    def batch_fn(step: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        j = step % n_windows
        cut = ids[(starts + j * window)[:, None] + torch.arange(window + 1, device=ids.device)]
        return cut[:, :-1], cut[:, 1:], j

    return batch_fn, n_windows


class TBPTTLoss:
    """``loss_fn`` for the Trainer: next-token cross-entropy of a window, from the detached state of the window
    before (zero at window 0); batch = (inputs [B, W], targets [B, W], window index)."""

    def __init__(self):
        self.state: ModelState | None = None

    def __call__(self, model: nn.Module, batch) -> tuple[torch.Tensor, dict[str, float]]:
        inputs, targets, j = batch
        logits, state = model.forward_with_state(inputs, None if j == 0 else self.state)
        self.state = detach_state(state)  # the next window's gradient stops here
        # at least float32 (autocast's bfloat16 logits), never below the model's own precision
        logits = logits.to(torch.promote_types(logits.dtype, torch.float32))
        loss = nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten())
        with torch.no_grad():
            acc = (logits.argmax(-1) == targets).float().mean()
        return loss, {"acc": float(acc)}
