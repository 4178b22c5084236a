"""check_mixer on mixers written the way a user writes one: a correct one passes, a broken one fails exactly
the clauses it breaks. The registry's own mixers go through the same checks in tests/mixers/test_contract.py."""

from dataclasses import dataclass

import pytest
import torch
from torch import nn

from rnnzoo.mixers import Mixer, MixerConfig
from rnnzoo.testing import accepts, check_mixer, takes_chunks


@dataclass
class DecayConfig(MixerConfig):
    init_decay: float = 0.9


class DecayMixer(Mixer):
    """h_t = a * h_{t-1} + W x_t, y_t = C h_t with a learned per-channel decay a in (0, 1): a parallel form
    (every h_t as a decayed sum of the inputs) for ``forward``, the loop for ``step``."""

    config_class = DecayConfig
    fast_mode = "parallel"

    def __init__(self, config: DecayConfig):
        super().__init__(config)
        d = config.d_model
        a = torch.full((d,), config.init_decay)
        self.a_logit = nn.Parameter(torch.log(a / (1 - a)))
        self.w_in = nn.Linear(d, d)
        self.w_out = nn.Linear(d, d)

    def init_state(self, batch_size, device=None, dtype=None):
        return (torch.zeros(batch_size, self.d_model, device=device, dtype=dtype or self._param_dtype()),)

    def _mix(self, x, state, mode):
        a, u, h = torch.sigmoid(self.a_logit), self.w_in(x), state[0]
        if mode == "recurrent":
            hs = []
            for t in range(x.shape[1]):
                h = a * h + u[:, t]
                hs.append(h)
            hs = torch.stack(hs, 1)
        else:
            t = torch.arange(x.shape[1], device=x.device, dtype=x.dtype)
            lag = t[:, None] - t[None, :]  # [T, T]: t - s
            decay = torch.where(lag[..., None] >= 0, a ** lag.clamp(min=0)[..., None], 0)  # [T, T, d]
            hs = torch.einsum("tsd,bsd->btd", decay, u) + a ** (t[:, None] + 1) * h[:, None]
        return self.w_out(hs), (hs[:, -1],)


class BrokenMixer(DecayMixer):
    """Three defects: ``step`` is off by 1e-3, a parameter is never used, ``state_size`` is wrong."""

    def __init__(self, config):
        super().__init__(config)
        self.unused = nn.Parameter(torch.zeros(3))

    def _step(self, x_t, state):
        y, state = super()._step(x_t, state)
        return y + 1e-3, state

    @property
    def state_size(self):
        return 2 * self.d_model


class SeqAPIMixer(DecayMixer):
    """DecayMixer taking packed rows (``cu_seqlens``), padded batches (``mask``) and prompt chunks (``prefill``),
    by running each sequence alone: the clauses that exercise them run in full on it. ``leak``: "padding"
    lets the state decay over padded positions, "packing" carries one sequence's state into the next."""

    leak = ""

    def forward(self, x, state=None, *, cu_seqlens=None, mask=None):
        if cu_seqlens is not None:
            bounds = list(zip(cu_seqlens[:-1].tolist(), cu_seqlens[1:].tolist()))
            state = self.init_state(len(bounds), dtype=x.dtype) if state is None else state
            ys, finals, carried = [], [], None
            for i, (a, b) in enumerate(bounds):
                start = carried if self.leak == "packing" and carried is not None else tuple(t[i:i + 1] for t in state)
                y, carried = super().forward(x[:, a:b], start)
                ys.append(y)
                finals.append(carried)
            return torch.cat(ys, 1), tuple(torch.cat(ts) for ts in zip(*finals))
        if mask is not None:
            state = self.init_state(x.shape[0], dtype=x.dtype) if state is None else state
            if self.leak == "padding":
                y, final = super().forward(x * mask[..., None], state)
                return y * mask[..., None], final
            y, finals = x.new_zeros(x.shape), []
            for i in range(x.shape[0]):
                y_i, final = super().forward(x[i:i + 1, mask[i]], tuple(t[i:i + 1] for t in state))
                y[i, mask[i]] = y_i[0]
                finals.append(final)
            return y, tuple(torch.cat(ts) for ts in zip(*finals))
        return super().forward(x, state)

    def prefill(self, x, state=None):
        return self.forward(x, state)


class LeakyPadding(SeqAPIMixer):
    leak = "padding"


class LeakyPacking(SeqAPIMixer):
    leak = "packing"


def test_packed_padded_and_chunked_clauses_run_on_a_mixer_that_offers_them():
    report = check_mixer(SeqAPIMixer)
    assert report.ok and all(c.status == "pass" for c in report.clauses), str(report)
    assert check_mixer(LeakyPadding).failed == ["padded == unpadded"]
    assert check_mixer(LeakyPacking).failed == ["packed == per-sequence"]


def test_a_correct_user_mixer_passes_every_clause():
    report = check_mixer(DecayMixer, options={"init_decay": 0.8})
    assert report.ok, str(report)
    skipped = {c.name for c in report.clauses if c.status == "skip"}
    mixer = DecayMixer(DecayConfig(d_model=16))
    expected = {name for name, missing in [("packed == per-sequence", not accepts(mixer, "cu_seqlens")),
                                          ("padded == unpadded", not accepts(mixer, "mask")),
                                          ("chunked prefill", not takes_chunks(mixer))] if missing}
    assert skipped == expected  # only what rnnzoo's Mixer does not offer yet
    assert str(report).endswith(f"{len(report.clauses) - len(skipped)} passed, 0 failed, {len(skipped)} skipped")


def test_a_broken_mixer_fails_exactly_the_clauses_it_breaks():
    report = check_mixer(BrokenMixer)
    prefill = {"chunked prefill"} if takes_chunks(BrokenMixer(DecayConfig(d_model=16))) else set()
    assert set(report.failed) == {"full == split == step", "no_grad and inference_mode", "gradients",
                                  "state_size"} | prefill, str(report)
    assert "unused got no gradient" in report["gradients"].detail
    assert "state_size 32 != 16 floats carried" in report["state_size"].detail
    assert "Tensor-likes are not close" in report["full == split == step"].detail
    assert "FAIL  gradients" in str(report) and "\n" not in report["gradients"].detail


def test_an_instance_is_checked_as_built_and_bad_targets_are_refused():
    assert check_mixer(DecayMixer(DecayConfig(d_model=8))).ok
    with pytest.raises(ValueError, match=r"no option\(s\) \['decay'\]"):
        check_mixer(DecayMixer, options={"decay": 0.5})
    with pytest.raises(ValueError, match="an instance is checked as it is"):
        check_mixer(DecayMixer(DecayConfig(d_model=8)), d_model=8)
    with pytest.raises(ValueError, match="takes a Mixer subclass or instance"):
        check_mixer(nn.Linear)
