"""What the bench shows while it trains: a progress bar per run (step and loss), or plain log lines.

``--no-progress`` is for logs and CI: instead of bars, one line when a run starts, one every tenth of its
steps or every ``every_seconds`` (whichever comes first) with the step and the loss, and one when it ends.
"""

from __future__ import annotations

import time
from typing import Callable

from tqdm.auto import tqdm


class RunProgress:
    """Progress of one training run. ``step(loss)`` is called once per optimiser step."""

    def __init__(self, label: str, steps: int, bar: bool, log: Callable[[str], None] = print,
                 every_seconds: float = 30.0):
        self.label, self.steps, self.log, self.every_seconds = label, steps, log, every_seconds
        self.done, self.start = 0, time.perf_counter()
        self.last_line = self.start
        self.bar = tqdm(total=steps, desc=label, leave=False, dynamic_ncols=True, unit="step") if bar else None
        if self.bar is None:
            log(f"{label}: training {steps} steps")

    def step(self, loss: float) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(loss=f"{loss:.4f}", refresh=False)
            return
        now = time.perf_counter()
        if self.done % max(1, self.steps // 10) == 0 or now - self.last_line >= self.every_seconds:
            self.last_line = now
            self.log(f"{self.label}: step {self.done}/{self.steps} loss {loss:.4f} ({now - self.start:.0f} s)")

    def close(self, summary: str) -> None:
        if self.bar is not None:
            self.bar.close()
        else:
            self.log(f"{self.label}: {summary} ({time.perf_counter() - self.start:.0f} s)")


def watch_loss(loss_fn, on_step: Callable[[float], None]):
    """``loss_fn`` that also reports each loss value to ``on_step`` (the bench trains without grad_accum, so
    one call is one optimiser step)."""
    def watched(model, batch):
        loss, metrics = loss_fn(model, batch)
        on_step(float(loss.detach()))
        return loss, metrics
    return watched
