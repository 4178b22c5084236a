"""The launch shared by the compiled kernels whose state S [K, V] of each (batch, head) item is saved every
``segment`` tokens for the backward pass (``csrc/delta_rule.c``, ``dplr.c``, ``mlstm.c``; layouts in
``csrc/rows.h``): the forward pass's outputs, and the call of a C entry point over the items split across
workers, each worker with its own rows of scratch.

Shapes: items = B * H; o [B, T, H, V]; the final state [B, H, K, V]; the checkpoints [B * H, ceil(T / segment), K, V];
per-worker buffers [workers, size] (one row per worker of ``native.run_parallel``).
"""

from __future__ import annotations

import ctypes

import torch

from rnnzoo.ops.kernels import native


def outputs(like: torch.Tensor, batch: int, length: int, heads: int, dk: int, dv: int, segment: int):
    """(o [B, T, H, V], S_T [B, H, K, V], ckpt [B * H, ceil(T / segment), K, V]), uninitialised, of ``like``'s
    dtype and device: what a forward entry point writes."""
    return (like.new_empty(batch, length, heads, dv), like.new_empty(batch, heads, dk, dv),
            like.new_empty(batch * heads, -(-length // segment), dk, dv))


def launch(lib: ctypes.CDLL, entry: str, like: torch.Tensor, items: int, args: tuple, sizes: tuple[int, ...]) -> None:
    """Calls ``<entry>_f32`` or ``<entry>_f64`` (by ``like``'s dtype) as ``entry(*args, i0, i1, *buffers)`` on
    contiguous ranges [i0, i1) covering the items [0, items), one per worker, in parallel; ``buffers`` are the
    worker's rows of one scratch buffer [workers, size] per entry of ``sizes`` (floats), allocated here."""
    buffers = [like.new_empty(native.workers(items), size) for size in sizes]
    fn = native.function(lib, entry, like.dtype)

    def work(i0, i1, w):
        fn(*native.args(*args, i0, i1, *(b[w] for b in buffers)))

    native.run_parallel(work, items)
