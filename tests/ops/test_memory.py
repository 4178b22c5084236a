"""Test-time-learned memory op (rnnzoo.ops.memory). Which reference each test uses:

- ``recurrent`` with the same chunk_size: the token loop, gradients by autograd at the chunk-start
  weights. chunk == recurrent exactly (float64 1e-10) for every memory / bias / retention / window /
  momentum, forward and backward; chunk_size=1 is the papers' per-token rule.
- ``chunk_start_reference`` (below): an independent closed form of mini-batch GD for the linear memory
  without momentum, written from the equation W_t = B_t W_0 - sum_i theta_i B_t/B_i k_i (W_0ᵀk_i - v_i)ᵀ.
- the per-token rule (recurrent, chunk_size=1) for larger chunks only where mini-batch GD is exact: linear
  memory, l2 bias, no momentum, no decay and keys orthogonal inside each chunk (then no token's update
  changes another token's prediction); a second test shows the two differ otherwise.
- ``rnnzoo.ops.delta.delta_rule``: the per-token linear memory without decay or momentum is DeltaNet.
"""


import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnzoo.ops.delta import delta_rule
from rnnzoo.ops.memory import MemoryRule, init_memory_state, memory_update

D64 = torch.float64


def make(rule, b=2, t=9, h=2, dk=4, e=6, momentum=True, seed=0, dtype=D64, lr_max=0.5, random_state=True):
    """Leaf inputs and an initial state (random weights and momentum, a filled Omega window)."""
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g, dtype=dtype)  # noqa: E731
    u = lambda *s: torch.rand(*s, generator=g, dtype=dtype)  # noqa: E731
    x = {"q": r(b, t, h, dk), "k": F.normalize(r(b, t, h, dk), dim=-1), "v": r(b, t, h, dk),
         "lr": u(b, t, h) * lr_max, "log_decay": -u(b, t, h) * 0.5}
    x["log_momentum"] = -u(b, t, h) if momentum else None
    x["gamma"] = u(b, t, h) if rule.window > 1 else None
    x["delta"] = u(b, t, h) + 0.2 if rule.bias == "huber" else None
    shapes = [(b, h, dk, dk)] if rule.memory == "linear" else [(b, h, dk, e), (b, h, e, dk)]
    params = tuple(r(*s) * (0.4 if random_state else 0.0) for s in shapes)
    st0 = init_memory_state(params, rule, momentum, rule.bias == "huber")
    if random_state:
        st0 = st0._replace(momentum=tuple(r(*a.shape) * 0.1 for a in st0.momentum),
                           window=tuple(u(*w.shape) if w.dim() == 3 else r(*w.shape) for w in st0.window))
    leaves = [z for z in x.values() if z is not None] + list(st0.params) + list(st0.momentum) + list(st0.window)
    for z in leaves:
        z.requires_grad_()
    st0 = st0._replace(anchor=st0.params)
    return x, st0, leaves


def call(rule, x, st0, mode, chunk_size):
    return memory_update(x["q"], x["k"], x["v"], x["lr"], x["log_decay"], x["log_momentum"], x["gamma"],
                         x["delta"], rule=rule, initial_state=st0, chunk_size=chunk_size,
                         output_final_state=True, mode=mode)


def forward_backward(rule, x, st0, leaves, mode, chunk_size):
    o, s = call(rule, x, st0, mode, chunk_size)
    loss = o.sin().sum() + sum(a.cos().sum() for a in s.params + s.momentum)
    grads = torch.autograd.grad(loss, leaves, allow_unused=True)
    return o.detach(), [a.detach() for a in s.params + s.momentum + s.window], grads


def assert_close(a, b, tol, what):
    """Relative to the tensor's scale, with an absolute floor for tensors that are numerically zero."""
    err, scale = (a - b).abs().max().item(), b.abs().max().item()
    assert err <= tol * scale + 1e-13, f"{what}: max abs error {err:.3g} vs scale {scale:.3g}"


RULES = [MemoryRule(memory=m, bias=b, retention=r, window=w) for m, b, r, w in
         [("linear", "l2", "l2", 1), ("mlp", "l2", "l2", 1), ("linear", "lp", "lq", 1), ("mlp", "lp", "lq", 1),
          ("linear", "huber", "l2", 1), ("mlp", "huber", "l2", 1), ("linear", "l2", "kl", 1),
          ("mlp", "l2", "kl", 1), ("linear", "l2", "l2", 3), ("mlp", "l2", "l2", 3), ("mlp", "huber", "kl", 2)]]


def _id(rule):
    return f"{rule.memory}-{rule.bias}-{rule.retention}-c{rule.window}"


@pytest.mark.parametrize("momentum", [False, True])
@pytest.mark.parametrize("rule", RULES, ids=_id)
def test_chunk_equals_recurrent_same_chunk_size(rule, momentum):
    x, st0, leaves = make(rule, t=11, momentum=momentum)
    o_r, s_r, g_r = forward_backward(rule, x, st0, leaves, "recurrent", 4)
    o_c, s_c, g_c = forward_backward(rule, x, st0, leaves, "chunk", 4)
    assert_close(o_c, o_r, 1e-10, "output")
    for a, b in zip(s_c, s_r):
        assert_close(a, b, 1e-10, "state")
    for i, (a, b) in enumerate(zip(g_c, g_r)):
        assert (a is None) == (b is None)
        if a is not None:
            assert_close(a, b, 1e-9, f"grad of leaf {i}")


@settings(max_examples=6, deadline=None)
@given(t=st.integers(1, 10), chunk=st.integers(1, 5), b=st.integers(1, 2), seed=st.integers(0, 99),
       rule_i=st.integers(0, len(RULES) - 1), momentum=st.booleans(), random_state=st.booleans())
def test_chunk_equals_recurrent_drawn_shapes(t, chunk, b, seed, rule_i, momentum, random_state):
    rule = RULES[rule_i]
    x, st0, leaves = make(rule, b=b, t=t, momentum=momentum, seed=seed, random_state=random_state)
    o_r, s_r, _ = forward_backward(rule, x, st0, leaves, "recurrent", chunk)
    o_c, s_c, _ = forward_backward(rule, x, st0, leaves, "chunk", chunk)
    assert_close(o_c, o_r, 1e-10, "output")
    for a, b_ in zip(s_c, s_r):
        assert_close(a, b_, 1e-10, "state")


@pytest.mark.parametrize("mode", ["chunk", "recurrent"])
def test_split_calls_equal_one_call(mode):
    """Chunks follow the absolute position carried in the state, so [3, 1, 7] calls == one call."""
    rule = MemoryRule(memory="mlp", window=2)
    x, st0, _ = make(rule, t=11)
    o_full, s_full = call(rule, x, st0, mode, 4)
    outs, s = [], st0
    for lo, hi in [(0, 3), (3, 4), (4, 11)]:
        part = {n: None if z is None else z[:, lo:hi] for n, z in x.items()}
        o, s = call(rule, part, s, mode, 4)
        outs.append(o)
    assert_close(torch.cat(outs, 1), o_full, 1e-12, "output")
    for a, b in zip(s.params + s.anchor + s.momentum + s.window, s_full.params + s_full.anchor + s_full.momentum
                    + s_full.window):
        assert_close(a, b, 1e-12, "state")
    assert int(s.pos[0]) == 11


def chunk_start_reference(q, k, v, lr, log_decay, w0, chunk_size):
    """Linear memory, l2 bias, no momentum, independent of the op: per chunk, from the chunk-start W_0,
    W_t = B_t W_0 - sum_{i<=t} lr_i (B_t / B_i) k_i (W_0ᵀ k_i - v_i)ᵀ, o_t = W_tᵀ q_t."""
    b, t, h, _ = q.shape
    w = w0.clone()
    out = torch.empty_like(v)
    for s in range(0, t, chunk_size):
        wc, acc = w, 0
        for i in range(s, min(s + chunk_size, t)):
            a = log_decay[:, i].exp()[..., None, None]
            err = torch.einsum("bhk,bhkv->bhv", k[:, i], wc) - v[:, i]
            acc = a * acc + lr[:, i][..., None, None] * torch.einsum("bhk,bhv->bhkv", k[:, i], err)
            scale = log_decay[:, s:i + 1].sum(1).exp()[..., None, None]
            w = scale * wc - acc
            out[:, i] = torch.einsum("bhk,bhkv->bhv", q[:, i], w)
    return out, w


@pytest.mark.parametrize("t,chunk", [(11, 4), (8, 8), (1, 4), (13, 1)])
def test_linear_chunk_equals_chunk_start_gradient_reference(t, chunk):
    rule = MemoryRule()
    x, st0, _ = make(rule, t=t, momentum=False)
    o, s = call(rule, x, st0, "chunk", chunk)
    o_ref, w_ref = chunk_start_reference(x["q"], x["k"], x["v"], x["lr"], x["log_decay"], st0.params[0], chunk)
    assert_close(o, o_ref, 1e-12, "output")
    assert_close(s.params[0], w_ref, 1e-12, "final memory")


def orthogonal_keys_per_chunk(b, t, h, dk, chunk, seed):
    """Keys that are mutually orthogonal inside every chunk (chunk <= dk)."""
    g = torch.Generator().manual_seed(seed)
    k = torch.empty(b, t, h, dk, dtype=D64)
    for s in range(0, t, chunk):
        n = min(chunk, t - s)
        basis = torch.linalg.qr(torch.randn(b, h, dk, dk, generator=g, dtype=D64))[0]  # orthonormal columns
        k[:, s:s + n] = basis[..., :n].permute(0, 3, 1, 2)
    return k


@pytest.mark.parametrize("chunk", [2, 4])
def test_chunk_equals_per_token_rule_where_minibatch_gd_is_exact(chunk):
    rule = MemoryRule()
    x, st0, _ = make(rule, t=10, momentum=False, lr_max=1.0)
    x["log_decay"] = torch.zeros_like(x["log_decay"])
    x["k"] = orthogonal_keys_per_chunk(2, 10, 2, 4, chunk, seed=3)
    o_chunk, s_chunk = call(rule, x, st0, "chunk", chunk)
    o_tok, s_tok = call(rule, x, st0, "recurrent", 1)
    assert_close(o_chunk, o_tok, 1e-12, "output")
    assert_close(s_chunk.params[0], s_tok.params[0], 1e-12, "final memory")
    # The same check fails with ordinary keys: the chunk-start gradient is then an approximation.
    x["k"] = F.normalize(torch.randn(2, 10, 2, 4, dtype=D64, generator=torch.Generator().manual_seed(5)), dim=-1)
    o_chunk, _ = call(rule, x, st0, "chunk", chunk)
    o_tok, _ = call(rule, x, st0, "recurrent", 1)
    assert (o_chunk - o_tok).abs().max() > 1e-4


def test_per_token_linear_memory_is_the_delta_rule():
    """l2 bias, no decay, no momentum, chunk_size=1: M_t = (I - theta k kᵀ) M_{t-1} + theta k vᵀ (DeltaNet)."""
    rule = MemoryRule()
    x, st0, _ = make(rule, t=9, momentum=False)
    x["log_decay"] = torch.zeros_like(x["log_decay"])
    o, s = call(rule, x, st0, "chunk", 1)
    o_ref, s_ref = delta_rule(x["q"], x["k"], x["v"], x["lr"], scale=1.0, initial_state=st0.params[0],
                              output_final_state=True, mode="recurrent")
    assert_close(o, o_ref, 1e-12, "output")
    assert_close(s.params[0], s_ref, 1e-12, "state")


GRADCHECK = [(MemoryRule(window=2), True), (MemoryRule(memory="mlp", bias="huber"), False),
             (MemoryRule(memory="mlp", bias="lp", retention="lq"), False), (MemoryRule(retention="kl"), True)]


@pytest.mark.parametrize("rule,momentum", GRADCHECK, ids=["linear-omega", "mlp-huber", "mlp-lp-lq", "linear-kl"])
def test_gradcheck_chunk_float64(rule, momentum):
    x, st0, leaves = make(rule, b=1, t=5, h=1, dk=2, e=3, momentum=momentum)
    names = [n for n, z in x.items() if z is not None]
    n_x = len(names)

    def f(*args):
        xs = dict(x, **dict(zip(names, args[:n_x])))
        rest = list(args[n_x:])
        n = len(st0.params)
        params, mom = tuple(rest[:n]), tuple(rest[n:n + len(st0.momentum)])
        win = tuple(rest[n + len(mom):])
        s = st0._replace(params=params, anchor=params, momentum=mom, window=win)
        o, s = call(rule, xs, s, "chunk", 2)
        return o, *s.params
    assert torch.autograd.gradcheck(f, tuple(leaves), eps=1e-6, atol=1e-6)


def test_gradcheck_recurrent_float64():
    rule = MemoryRule(memory="mlp")
    x, st0, leaves = make(rule, b=1, t=3, h=1, dk=2, e=2)

    def f(q, k, v, lr):
        return call(rule, dict(x, q=q, k=k, v=v, lr=lr), st0, "recurrent", 2)[0]
    assert torch.autograd.gradcheck(f, (x["q"], x["k"], x["v"], x["lr"]), eps=1e-6, atol=1e-6)


def test_retentions_keep_their_constraints():
    for retention, check in [("kl", lambda w: torch.allclose(w.sum(-1), torch.ones((), dtype=D64))),
                             ("lq", lambda w: bool((w.abs().pow(4).sum((-2, -1)) <= 1 + 1e-9).all()))]:
        from rnnzoo.ops.memory import retain
        rule = MemoryRule(retention=retention)
        x, st0, _ = make(rule, t=7, lr_max=3.0)
        _, s = call(rule, x, st0, "chunk", 3)
        assert check(retain(rule, s.params[0] * 10))


def test_low_precision_inputs_return_their_dtype():
    rule = MemoryRule(memory="mlp")
    x, st0, _ = make(rule, dtype=torch.float32)
    x = {n: None if z is None else z.detach().bfloat16() for n, z in x.items()}
    o, s = call(rule, x, st0, "chunk", 4)
    assert o.dtype == torch.bfloat16 and s.params[0].dtype == torch.float32


@pytest.mark.parametrize("kwargs,message", [
    (dict(window=0), "window c must be >= 1, got 0"),
    (dict(bias="l3"), "unknown attentional bias 'l3'"),
    (dict(retention="l1"), "unknown retention 'l1'"),
    (dict(memory="rnn"), "unknown memory 'rnn'"),
    (dict(p=0.5), "p >= 1, got 0.5"),
])
def test_bad_rule_raises(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MemoryRule(**kwargs)


def test_bad_inputs_raise():
    rule = MemoryRule()
    x, st0, _ = make(rule, momentum=False)
    bad = [(dict(lr=-x["lr"] - 0.1), "lr \\(theta\\) must be >= 0"),
           (dict(log_decay=x["log_decay"][:, :3]), "log_decay must be"),
           (dict(q=x["q"][..., :3]), "q, k must be"),
           (dict(delta=x["lr"]), "Huber"),
           (dict(log_momentum=x["log_decay"]), "momentum")]
    for change, message in bad:
        with pytest.raises(ValueError, match=message):
            call(rule, dict(x, **change), st0, "chunk", 4)
    with pytest.raises(ValueError, match="chunk_size"):
        call(rule, x, st0, "chunk", 0)
    with pytest.raises(ValueError, match="mode"):
        call(rule, x, st0, "scan", 4)
    mlp = MemoryRule(memory="mlp")
    with pytest.raises(ValueError, match="K == V"):
        call(mlp, dict(x, v=x["v"][..., :3]), init_memory_state((st0.params[0], st0.params[0]), mlp, False), "chunk", 4)
