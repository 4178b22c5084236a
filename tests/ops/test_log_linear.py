"""log_linear_attention / log_linear_gated_delta_rule: chunk == the recurrent (Fenwick) form forward and backward,
with offsets and initial states; the recurrent form == the masked quadratic form (Q Kᵀ ⊙ M^S ⊙ M^H) V built from
rnnzoo.ops.matrix; split == whole; level bookkeeping; gradcheck."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnzoo.ops.log_linear import (
    hierarchical_mask,
    level_index,
    log_linear_attention,
    log_linear_gated_delta_rule,
    num_levels,
)
from rnnzoo.ops.matrix import delta_matrix, scalar_decay_matrix
from tests.ops.modes import assert_modes_agree, gradcheck

OPS = {"mamba2": log_linear_attention, "gated_deltanet": log_linear_gated_delta_rule}


def make(op, b, t, h, dk, dv, seed=0, dtype=torch.float32, offset=0, state=True, extra_levels=1):
    """Unit-norm keys (as the mixers make them), log decays logsigmoid(N(2, 1)), level scales in (0, 1)."""
    gen = torch.Generator().manual_seed(seed)
    q = torch.randn(b, t, h, dk, generator=gen, dtype=dtype)
    k = F.normalize(torch.randn(b, t, h, dk, generator=gen, dtype=dtype), dim=-1)
    v = torch.randn(b, t, h, dv, generator=gen, dtype=dtype)
    g = F.logsigmoid(torch.randn(b, t, h, generator=gen, dtype=dtype) + 2)
    x = dict(q=q, k=k, v=v, g=g)
    if op == "gated_deltanet":
        x["beta"] = torch.rand(b, t, h, generator=gen, dtype=dtype)
    x["level_scales"] = torch.rand(b, t, h, num_levels(offset + t) + extra_levels, generator=gen, dtype=dtype)
    s0 = torch.randn(b, num_levels(offset), h, dk, dv, generator=gen, dtype=dtype)
    x["initial_state"] = s0 if state and offset else None
    return x


@settings(max_examples=8, deadline=None)
@given(b=st.integers(1, 2), t=st.integers(1, 120), h=st.integers(1, 2), dk=st.sampled_from([4, 8]),
       dv=st.sampled_from([3, 8]), chunk=st.sampled_from([4, 8, 16]), offset=st.integers(0, 40), seed=st.integers(0, 99))
@pytest.mark.parametrize("op", OPS)
def test_chunk_matches_recurrent_float32(op, b, t, h, dk, dv, chunk, offset, seed):
    assert_modes_agree(OPS[op], make(op, b, t, h, dk, dv, seed, offset=offset), 1e-5, chunk_size=chunk,
                       offset=offset)


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("t,offset,chunk", [(1, 0, 4), (1, 7, 4), (17, 0, 4), (64, 0, 16), (65, 3, 8), (100, 32, 8)])
def test_chunk_matches_recurrent_t1_odd_and_offsets(op, t, offset, chunk):
    assert_modes_agree(OPS[op], make(op, 2, t, 2, 8, 4, offset=offset), 1e-5, chunk_size=chunk, offset=offset)


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("mode", ["recurrent", "chunk"])
def test_recurrent_form_is_the_masked_quadratic_form(op, mode):
    """o = (Q Kᵀ ⊙ M^S ⊙ M^H) V, M^S from rnnzoo.ops.matrix (exp(segsum g), or the gated delta rule's P_{t,s})."""
    x = make(op, 2, 37, 2, 5, 3, dtype=torch.float64, state=False)
    o, _ = OPS[op](**x, mode=mode, chunk_size=8)
    q, k, v, g = x["q"], x["k"], x["v"], x["g"]
    ms = delta_matrix(q, k, x["beta"], g) if "beta" in x else scalar_decay_matrix(q, k, g)
    o_ref = torch.einsum("bhts,bshv->bthv", ms * hierarchical_mask(x["level_scales"]), v)
    torch.testing.assert_close(o, o_ref, atol=1e-12, rtol=1e-12)


def test_levels_are_the_fenwick_buckets():
    lev = level_index(8)
    # query 6 = 0b110: itself (0), 5..4 share bit 2 and differ below it -> level 2, 3..0 -> level 3
    assert lev[6, :7].tolist() == [3, 3, 3, 3, 2, 2, 0]
    assert lev[7, :8].tolist() == [3, 3, 3, 3, 2, 2, 1, 0]
    assert (lev[torch.ones(8, 8, dtype=torch.bool).triu(1)] == -1).all()
    assert [num_levels(n) for n in range(10)] == [0, 1, 2, 3, 3, 4, 4, 4, 4, 5]
    # one level scale per bucket: with lambda = 1 everywhere the op is plain decayed linear attention
    x = make("mamba2", 1, 21, 2, 4, 3, dtype=torch.float64, state=False)
    o, _ = log_linear_attention(**{**x, "level_scales": torch.ones_like(x["level_scales"])}, mode="recurrent")
    o_lin = torch.einsum("bhts,bshv->bthv", scalar_decay_matrix(x["q"], x["k"], x["g"]), x["v"])
    torch.testing.assert_close(o, o_lin, atol=1e-12, rtol=1e-12)


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("mode", ["recurrent", "chunk"])
def test_split_equals_whole(op, mode):
    x = make(op, 2, 45, 2, 4, 3, dtype=torch.float64, state=False)
    o, s = OPS[op](**x, output_final_state=True, mode=mode, chunk_size=4)
    cut = 13
    first = {n: (None if y is None else y[:, :cut]) for n, y in x.items()}
    second = {n: (None if y is None else y[:, cut:]) for n, y in x.items()}
    o1, s1 = OPS[op](**first, output_final_state=True, mode=mode, chunk_size=4)
    o2, s2 = OPS[op](**{**second, "initial_state": s1}, output_final_state=True, offset=cut, mode=mode, chunk_size=4)
    torch.testing.assert_close(torch.cat((o1, o2), 1), o, atol=1e-12, rtol=1e-12)
    torch.testing.assert_close(s2, s, atol=1e-12, rtol=1e-12)
    assert s.shape[1] == num_levels(45)


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("mode", ["recurrent", "chunk"])
def test_gradcheck_float64(op, mode):
    assert gradcheck(OPS[op], make(op, 1, 6, 1, 2, 2, dtype=torch.float64, offset=3), mode=mode,
                     output_final_state=True, offset=3, chunk_size=4)


def test_bad_arguments_raise():
    x = make("mamba2", 1, 6, 2, 4, 3, offset=2)
    with pytest.raises(ValueError, match="level_scales must be"):
        log_linear_attention(**{**x, "level_scales": x["level_scales"][..., :2]}, offset=2)
    with pytest.raises(ValueError, match="initial_state must be"):
        log_linear_attention(**x, offset=5)
    with pytest.raises(ValueError, match="power of two"):
        log_linear_attention(**x, offset=2, chunk_size=6)
    with pytest.raises(ValueError, match="mode"):
        log_linear_attention(**x, offset=2, mode="parallel")
    with pytest.raises(ValueError, match="offset"):
        log_linear_attention(**x, offset=-1)
