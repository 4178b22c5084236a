"""One rank of the sequence-parallel equality check (run by test_lasp.py under torch.multiprocessing).

Every rank computes the single-process reference on the whole sequence itself (in float32, and in float64
to know the float32 reference's own error), then its chunk in float32 under
``sequence_parallel_forward`` over the whole world (4 chunks) and over pairs of ranks (2 chunks); outputs
are compared chunk by chunk, and parameter and initial-state gradients after summing them over the group.
Mismatches are written to ``<out>/rank<r>.json``.
"""

from __future__ import annotations

import copy
import datetime
import json
import os
import sys

import torch
import torch.distributed as dist
from torch import nn

from rnnzoo import mixers
from rnnzoo.distributed import local_chunk, sequence_groups, sequence_parallel, sequence_parallel_forward
from rnnzoo.models.block import Block

D, B = 16, 2
# short-conv windows of 2 tokens: every chunk below is at least that long
OPTIONS = {"mamba2": {"headdim": 8, "d_state": 8, "chunk_size": 4, "d_conv": 3}, "mamba": {"d_conv": 3},
           "gla": {"use_short_conv": True, "conv_size": 3}, "linear_attention": {"use_short_conv": True, "conv_size": 3},
           "deltanet": {"conv_size": 3}, "gated_deltanet": {"conv_size": 3}, "deltaproduct": {"conv_size": 3},
           "rglru": {"conv_size": 3}}
OPTIONS |= {"comba": {"conv_size": 3}, "longhorn": {"d_conv": 3}}
SPLITS = {4: ([3, 4, 2, 4], [4, 3, 3, 3]), 2: ([6, 7], [9, 4])}  # uneven chunks of T = 13


def _close(got, ref, ref64, what, failures):
    """Equal to the float32 reference to 1e-5 of its scale (max |entry|, at least 1), or, where the float32
    reference is itself further than that from the float64 one, at least as close to float64 as it is
    (deltaproduct from a random initial state: 1.2e-5)."""
    if not ref.numel():
        return
    scale = ref64.abs().max().clamp(min=1)
    err = float((got - ref).abs().max() / scale)
    own = float((ref.double() - ref64).abs().max() / scale)
    if not (err <= 1e-5 or float((got.double() - ref64).abs().max() / scale) <= 2 * own):
        failures.append(f"{what}: max |diff| / scale {err:.2e} (float32 reference to float64: {own:.2e})")


def _reference(model, x, w, state, dtype):
    """One process on the whole sequence in ``dtype``: (output, parameter gradients, initial-state gradients)."""
    model = copy.deepcopy(model).to(dtype)
    state = None if state is None else tuple(
        t.detach().to(dtype).requires_grad_() if t.is_floating_point() else t for t in state)
    y = model(x.to(dtype), state)[0] if isinstance(model, mixers.Mixer) else model(x.to(dtype))
    (y * w.to(dtype)).sum().backward()
    return (y.detach(), {k: p.grad for k, p in model.named_parameters()},
            [t.grad for t in state if t.is_floating_point()] if state else [])


def _check(name, build, group, sizes, with_state, failures):
    torch.manual_seed(0)
    model = build()
    x = torch.randn(B, sum(sizes), D)
    w = torch.randn(B, sum(sizes), D)
    mixer = model if isinstance(model, mixers.Mixer) else None
    state = None
    if with_state:  # a random initial state: floats drawn, counters at a position
        state = tuple(torch.randn_like(t).requires_grad_() if t.is_floating_point() else t + 5
                      for t in mixer.init_state(B))
    refs = [_reference(model, x, w, state, dtype) for dtype in (torch.float32, torch.float64)]
    x_r, w_r = (local_chunk(t, group, sizes) for t in (x, w))
    if mixer:
        out = sequence_parallel_forward(mixer, x_r, state, group)[0]
    else:
        with sequence_parallel(model, group):
            out = model(x_r)
    (out * w_r).sum().backward()
    tag = f"{name} chunks={sizes} state={with_state}"
    y32, y64 = (local_chunk(r[0], group, sizes) for r in refs)
    _close(out.detach(), y32, y64, f"{tag} output", failures)
    for k, p in model.named_parameters():
        g = p.grad.clone() if p.grad is not None else torch.zeros_like(p)
        dist.all_reduce(g, group=group)
        _close(g, refs[0][1][k], refs[1][1][k], f"{tag} grad {k}", failures)
    floats = [t for t in state if t.is_floating_point()] if state else []
    for i, t in enumerate(floats):
        g = t.grad.clone() if t.grad is not None else torch.zeros_like(t)
        dist.all_reduce(g, group=group)
        _close(g, refs[0][2][i], refs[1][2][i], f"{tag} initial state grad {i}", failures)


class Hybrid(nn.Module):
    """gla, attention, deltanet blocks: linear and attention layers in one model."""

    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList(Block(mixers.build(n, D, **OPTIONS.get(n, {})), 2.0) for n in ("gla", "attention", "deltanet"))

    def forward(self, x):
        for block in self.blocks:
            x = block(x)[0]
        return x


def main(rank: int, world: int, init_file: str, out_dir: str, names: list[str]) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world,
                            timeout=datetime.timedelta(seconds=60))
    failures: list[str] = []
    pairs = sequence_groups(2)
    for group, parts in ((None, 4), (pairs, 2)):
        for name in names:
            for i, sizes in enumerate(SPLITS[parts]):
                _check(name, lambda: mixers.build(name, D, **OPTIONS.get(name, {})), group, sizes, i == 1, failures)
        _check("hybrid", Hybrid, group, SPLITS[parts][0], False, failures)
    x = local_chunk(torch.randn(B, 13, D), pairs, [1, 12])
    try:  # every rank of the pair refuses, so none is left waiting in a collective
        sequence_parallel_forward(mixers.build("mamba", D, d_conv=4), x, None, pairs)
        failures.append("a chunk of 1 token under a short-conv window of 3 was accepted")
    except ValueError as e:
        if "short-conv window of 3 tokens" not in str(e):
            failures.append(f"short chunk: {e}")
    with open(f"{out_dir}/rank{rank}.json", "w") as f:
        json.dump(failures, f)
    dist.barrier()


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5].split(","))
    # exit without destroying the gloo group from Python, which can deadlock on the GIL (rnnzoo.train.trainer)
    sys.stdout.flush()
    os._exit(0)
