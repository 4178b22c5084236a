"""Hyena: the implicit filter and the window carried by step."""

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from rnnzoo import mixers
from rnnzoo.testing import run_split, run_steps


def test_full_equals_split_equals_step_below_and_across_l_max():
    for l_max in (64, 5):  # window never filled; window filled and the FIR cut crossed
        torch.manual_seed(0)
        mixer = mixers.build("hyena", 16, l_max=l_max, filter_order=8, order=3).double()
        x = torch.randn(2, 19, 16, dtype=torch.float64)
        y, state = mixer(x)
        for got, got_state in (run_split(mixer, x, [4, 9, 6]), run_steps(mixer, x)):
            torch.testing.assert_close(got, y, atol=1e-10, rtol=1e-10)
            for a, b in zip(got_state, state):
                torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-10)
        assert mixer.state_size == 4 * 16 * 2 + 2 * 16 * (l_max - 1)


def test_filter_is_the_decayed_ffn_of_the_positional_encoding():
    mixer = mixers.build("hyena", 8, l_max=10, filter_order=4)
    f = mixer.filter
    h = f(10)
    assert h.shape == (8, 10)
    t = torch.linspace(0, 1, 10)[:, None]
    torch.testing.assert_close(h, (f.ffn(f.z) * torch.exp(-t * f.deltas.abs())).t())
    # decay rates: the first channel decays to the target (1e-2) over 1.5 l_max, the last over 0.3 l_max
    torch.testing.assert_close(f.deltas[[0, -1]].abs(), torch.tensor([4.60517 / 1.5, 4.60517 / 0.3]))
    assert f.z._lr == 1e-5 and all(p._lr == 1e-3 for p in f.ffn.parameters())


def test_filter_cache_follows_parameter_updates():
    mixer = mixers.build("hyena", 8, l_max=12, filter_order=4)
    with torch.no_grad():
        first = mixer._long_filters(5).clone()
        torch.testing.assert_close(first, mixer.filter(5))
        mixer.filter.ffn[0].weight.add_(1.0)  # an optimiser step: a new parameter version
        torch.testing.assert_close(mixer._long_filters(5), mixer.filter(5))
        assert not torch.allclose(mixer._long_filters(5), first)


class _AllocatedShapes(TorchDispatchMode):
    """Records the shape of every tensor the ops under it return."""

    def __init__(self):
        super().__init__()
        self.shapes = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        self.shapes += [(str(func), tuple(o.shape)) for o in (out if isinstance(out, (tuple, list)) else (out,))
                        if isinstance(o, torch.Tensor)]
        return out


def test_step_allocates_the_same_shapes_at_every_token():
    # shapes growing with the tokens seen fragmented glibc's heap: 16 GB over 2048 steps at B=8, d_model 256
    mixer = mixers.build("hyena", 8, l_max=6, filter_order=4).eval()
    state, x = mixer.init_state(2), torch.randn(2, 12, 8)
    per_token = []
    with torch.no_grad():
        for t in range(12):
            with _AllocatedShapes() as rec:
                _, state = mixer.step(x[:, t], state)
            per_token.append(rec.shapes)
            assert [s.shape for s in state] == [s.shape for s in mixer.init_state(2)]
    # token 0 also builds the filter cache
    assert all(shapes == per_token[1] for shapes in per_token[1:])
