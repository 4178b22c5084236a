"""Packed sequences (``cu_seqlens``) for every op and every mode, the reference loops included: the packed call
equals each sequence run alone, in outputs, final states and the gradients of every input and initial state."""

import inspect

import pytest
import torch
from torch.utils import _pytree as pytree

import rnnzoo.ops
from rnnzoo.ops.lmu import legendre_state_space, zoh
from rnnzoo.ops.memory import MemoryRule, init_memory_state
from rnnzoo.ops.s4d import s4d_init
from rnnzoo.ops.varlen import PACKING, check_cu_seqlens, stack_rows
from tests.ops.modes import kernel_missing
from tests.ops.test_init import modes

LENGTHS = [3, 1, 5, 3]  # two sequences of one length share a call
H, D = 2, 4


def make_inputs(name, b, t, dtype, seed=0):
    """Arguments of op ``name`` with time-indexed ones [b, t, ...] (seeded: the per-head parameters, drawn first,
    are the same for every b and t)."""
    gen = torch.Generator().manual_seed(seed)

    def r(*shape):
        return torch.randn(*shape, generator=gen, dtype=torch.float64).to(dtype)

    def gate(*shape):
        return -torch.rand(*shape, generator=gen, dtype=torch.float64).to(dtype)

    params = {
        "selective_scan": lambda: dict(A=gate(6, 3)), "signed_selective_scan": lambda: dict(A=gate(6, 3)),
        "s4d_conv": lambda: dict(zip(("log_dt", "log_A_real", "A_imag", "C"), s4d_init(H, 4, generator=gen))),
        "aaren": lambda: dict(q=r(H, D)),
        "rwkv6": lambda: dict(u=r(H, D)),
        "elman": lambda: dict(weight_ih=r(6, 5), weight_hh=r(6, 6)),
        "lstm": lambda: dict(weight_ih=r(24, 5), weight_hh=r(24, 6)),
        "gru": lambda: dict(weight_ih=r(18, 5), weight_hh=r(18, 6)),
        "slstm": lambda: dict(r=r(H, 4, D, D) * 0.1),
        "lmu_memory": lambda: dict(zip(("Abar", "Bbar"), (x.to(dtype) for x in zoh(*legendre_state_space(4, 3.0))))),
        "long_conv": lambda: dict(k=r(H, 4), D=r(H)),
        "dilated_causal_conv": lambda: dict(weight=r(H, 3), bias=r(H), dilation=2),
        "hie": lambda: dict(weight=r(H, 5, 3), bias=r(H)),
        "combiner_attention": lambda: dict(w=r(H, D), block_size=2),
        "mesa_net": lambda: dict(lamb=1 - gate(H, D)),
        "ttt_linear": lambda: dict(w=r(H, D, D) * 0.1, b=r(H, D) * 0.1, ln_weight=1 + r(H, D) * 0.1,
                                   ln_bias=r(H, D) * 0.1, mini_batch_size=4, offset=2),
        "log_linear_attention": lambda: dict(offset=2, chunk_size=2),
        "log_linear_gated_delta_rule": lambda: dict(offset=2, chunk_size=2),
        "path_attention": lambda: dict(chunk_size=2),
        "deltaformer_attention": lambda: dict(chunk_size=2),
    }.get(name, dict)()
    if name == "s4d_conv":
        params = {k: v.to(dtype) if not v.is_complex() else v.to(torch.complex128 if dtype == torch.float64
                                                                   else torch.complex64) for k, v in params.items()}
    q, k, v = r(b, t, H, D), r(b, t, H, D), r(b, t, H, D)
    time = {
        "simple_gla": lambda: dict(q=q, k=k, v=v, g=gate(b, t, H)),
        "gla": lambda: dict(q=q, k=k, v=v, gk=gate(b, t, H, D)),
        "rwkv6": lambda: dict(q=q, k=k, v=v, w=gate(b, t, H, D)),
        "linear_attention": lambda: dict(q=q, k=k, v=v),
        "mlstm": lambda: dict(q=q, k=k, v=v, i=r(b, t, H), f=gate(b, t, H)),
        "delta_rule": lambda: dict(q=q, k=k, v=v, beta=-gate(b, t, H)),
        "gated_delta_rule": lambda: dict(q=q, k=k, v=v, g=gate(b, t, H), beta=-gate(b, t, H)),
        "delta_product": lambda: dict(q=q, k=r(b, 2 * t, H, D), v=r(b, 2 * t, H, D), g=gate(b, t, H),
                                      beta=-gate(b, 2 * t, H)),
        "dplr_delta_rule": lambda: dict(q=q, k=k, v=v, a=r(b, t, H, D) * 0.3, b=r(b, t, H, D) * 0.3,
                                        gk=gate(b, t, H, D)),
        "iplr_delta_rule": lambda: dict(q=q, k=k, v=v, a=r(b, t, H, D) * 0.3, b=r(b, t, H, D) * 0.3),
        "kda": lambda: dict(q=q, k=k * 0.4, v=v, g=gate(b, t, H, D), beta=-gate(b, t, H)),
        "gdn2": lambda: dict(q=q, k=k * 0.4, v=v, g=gate(b, t, H, D), b=-gate(b, t, H, D), w=-gate(b, t, H, D)),
        "ssd": lambda: dict(x=q, a=gate(b, t, H), b=r(b, t, H, 3), c=r(b, t, H, 3)),
        "signed_ssd": lambda: dict(x=q, a=r(b, t, H).tanh(), b=r(b, t, H, 3), c=r(b, t, H, 3)),
        "selective_scan": lambda: dict(u=r(b, 6, t), delta=-gate(b, 6, t), B=r(b, 3, t), C=r(b, 3, t), z=r(b, 6, t)),
        "signed_selective_scan": lambda: dict(u=r(b, 6, t), delta=-gate(b, 6, t), B=r(b, 3, t), C=r(b, 3, t)),
        "diagonal_scan": lambda: dict(x=r(b, t, 5), g=gate(b, t, 5)),
        "signed_diagonal_scan": lambda: dict(x=r(b, t, 5), a=r(b, t, 5).tanh()),
        "aaren": lambda: dict(k=k, v=v),
        "memory_update": lambda: dict(q=q, k=k, v=v, lr=-gate(b, t, H), log_decay=gate(b, t, H), rule=MemoryRule(),
                                      chunk_size=2),
        "slstm": lambda: dict(gx=r(b, t, H, 4, D)),
        "chunked_attention": lambda: dict(q=q, k=k, v=v, chunk_size=2),
        "combiner_attention": lambda: dict(q=q, k=k, v=v),
        "sparse_local_attention": lambda: dict(q=r(b, t, 8), k=r(b, t, 8), v=r(b, t, 6), active=r(b, t) > 0,
                                               window=2),
        "routing_attention": lambda: dict(q=q, k=k, v=v, q_cluster=torch.randint(0, 2, (b, t, H), generator=gen),
                                          k_cluster=torch.randint(0, 2, (b, t, H), generator=gen)),
        "softmax_attention": lambda: dict(q=q, k=k, v=v),
        "forgetting_attention": lambda: dict(q=q, k=k, v=v, g=gate(b, t, H)),
        "apply_rotary": lambda: dict(x=q, positions=torch.randint(0, 9, (b, t), generator=gen)),
        "gsa": lambda: dict(q=q, k=k, v=v, s=-gate(b, t, H, 3), g=gate(b, t, H, 3)),
        "comba": lambda: dict(q=q, k=k * 0.4, v=v, p=r(b, t, H, D) * 0.4, g=gate(b, t, H), beta=-gate(b, t, H)),
        "longhorn": lambda: dict(x=r(b, t, 5), beta=-gate(b, t, 5), k=r(b, t, 3), q=r(b, t, 3)),
        "mamba3": lambda: dict(x=r(b, t, H, 2, D), a=gate(b, t, H), dt=-gate(b, t, H), lam=-gate(b, t, H),
                               b=r(b, t, H, 2, D), c=r(b, t, H, 2, D), theta=r(b, t, H, 1)),
        "log_linear_attention": lambda: dict(q=q, k=k * 0.4, v=v, g=gate(b, t, H), level_scales=-gate(b, t, H, 6)),
        "log_linear_gated_delta_rule": lambda: dict(q=q, k=k * 0.4, v=v, g=gate(b, t, H), beta=-gate(b, t, H),
                                                    level_scales=-gate(b, t, H, 6)),
        "mesa_net": lambda: dict(q=q, k=k, v=v, g=gate(b, t, H), beta=-gate(b, t, H)),
        "ttt_linear": lambda: dict(q=q, k=k, v=v, eta=-gate(b, t, H) * 0.5),
        "path_attention": lambda: dict(q=q, k=k, v=v, w=r(b, t, H, D) * 0.4, beta=-gate(b, t, H) * 2,
                                       g=gate(b, t, H)),
        "deltaformer_attention": lambda: dict(q=q, k=k, v=v, beta=-gate(b, t, H)),
    }.get(name, lambda: dict(u=r(b, t, H)) if name in ("s4d_conv", "long_conv", "dilated_causal_conv")
          else dict(x=r(b, t, 5)) if name in ("elman", "lstm", "gru") else dict(u=r(b, t, 5)))()
    return {**params, **time}


def initial_state(op, name, n, dtype):
    """A state of n sequences, from running the op over a random prefix of 2 tokens (None for stateless ops)."""
    spec = PACKING[name]
    if not spec.final_flag:
        return None
    args = make_inputs(name, n, 2, dtype, seed=1)
    if "offset" in args:  # the 2 tokens before the packed call's offset 2 (log_linear, ttt_linear)
        args["offset"] = 0
    if name == "memory_update":
        gen = torch.Generator().manual_seed(3)
        args["initial_state"] = init_memory_state((torch.randn(n, H, D, D, generator=gen, dtype=dtype),),
                                                  MemoryRule(), momentum=False)
    return op(**args, **{spec.final_flag: True})[1]


def seq_slice(name, args, start, stop):
    """The arguments of one sequence: time-indexed ones cut to [start, stop) (rows per token kept)."""
    spec = PACKING[name]
    out = dict(args)
    for n in spec.time + spec.time_if_batched:
        a = args.get(n)
        if a is None or (n in spec.time_if_batched and a.dim() < 3):
            continue
        rate = a.shape[spec.time_dim] // args[spec.time[0]].shape[spec.time_dim]
        out[n] = a.narrow(spec.time_dim % a.dim(), start * rate, (stop - start) * rate)
    return out


def float_leaves(tree):
    return [t for t in pytree.tree_leaves(tree) if isinstance(t, torch.Tensor) and (t.is_floating_point()
                                                                                    or t.is_complex())]


def packed_and_alone(name, mode, dtype):
    """(packed results, alone results): each (output, final state leaves, gradients of every float input)."""
    op = getattr(rnnzoo.ops, name)
    spec = PACKING[name]
    cu = torch.tensor([0, *torch.tensor(LENGTHS).cumsum(0).tolist()])
    args = make_inputs(name, 1, cu[-1].item(), dtype)
    state = initial_state(op, name, len(LENGTHS), dtype)
    extra = {} if mode is None else {"mode": mode}
    if spec.final_flag:
        extra[spec.final_flag] = True
    results = []
    for packed in (True, False):
        leaves_in, tree = pytree.tree_flatten((args, state))
        leaves_in = [t.detach().clone().requires_grad_() if isinstance(t, torch.Tensor) and
                     (t.is_floating_point() or t.is_complex()) else t for t in leaves_in]
        a, s = pytree.tree_unflatten(leaves_in, tree)
        call = dict(a, **({} if s is None else {"initial_state": s}), **extra)
        if packed:
            out = op(**call, cu_seqlens=cu)
            o, final = (out, None) if torch.is_tensor(out) else out
        else:
            os, finals = [], []
            for n in range(len(LENGTHS)):
                one = seq_slice(name, call, cu[n].item(), cu[n + 1].item())
                if s is not None:
                    one["initial_state"] = pytree.tree_map(lambda t, n=n: t[n:n + 1], s)
                out = op(**one)
                o1, f1 = (out, None) if torch.is_tensor(out) else out
                os.append(o1)
                finals.append(f1)
            o = torch.cat(os, spec.time_dim)
            # growing states (combiner's caches) of different lengths: left-padded with zeros, the newest last
            final = None if finals[0] is None else stack_rows(finals, torch.arange(len(finals)), spec.grow_at_end)
        w = torch.randn(o.shape, generator=torch.Generator().manual_seed(7), dtype=torch.float64).to(o.dtype)
        loss = (o * w).sum().real + sum((f.abs() ** 2).sum() * 0.1 for f in float_leaves(final))
        grads = torch.autograd.grad(loss, [t for t in leaves_in if isinstance(t, torch.Tensor) and t.requires_grad],
                                    allow_unused=True)
        results.append((o, pytree.tree_leaves(final), grads))
    return results


def cases():
    out = []
    for name in rnnzoo.ops.__all__:
        for mode in (modes(name) if "mode" in inspect.signature(getattr(rnnzoo.ops, name)).parameters else (None,)):
            out.append((name, mode))
    return out


CASES = cases()


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5)])
@pytest.mark.parametrize("name,mode", CASES, ids=[f"{n}-{m}" for n, m in CASES])
def test_packed_equals_each_sequence_alone(name, mode, dtype, tol):
    if mode == "kernel" and kernel_missing("selective_scan" if name.endswith("selective_scan") else
                                           "linear_attention"):
        pytest.skip("no C compiler: no compiled kernel")
    (o_p, f_p, g_p), (o_a, f_a, g_a) = packed_and_alone(name, mode, dtype)
    torch.testing.assert_close(o_p, o_a, atol=tol, rtol=tol)
    assert len(f_p) == len(f_a)
    for a, b in zip(f_p, f_a):
        torch.testing.assert_close(a, b, atol=tol, rtol=tol)
    for a, b in zip(g_p, g_a):
        assert (a is None) == (b is None)
        if a is not None:
            torch.testing.assert_close(a, b, atol=tol, rtol=tol)


FLOAT64 = ["gla", "delta_product", "selective_scan", "memory_update", "combiner_attention", "lstm"]


@pytest.mark.parametrize("name", FLOAT64)
def test_packed_equals_alone_in_float64(name):
    (o_p, f_p, g_p), (o_a, f_a, g_a) = packed_and_alone(name, None, torch.float64)  # the default mode
    for a, b in zip([o_p, *f_p, *g_p], [o_a, *f_a, *g_a]):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-10)


def test_every_op_takes_cu_seqlens_and_has_a_packing():
    assert sorted(PACKING) == sorted(rnnzoo.ops.__all__)
    for name in rnnzoo.ops.__all__:
        op = getattr(rnnzoo.ops, name)
        assert "cu_seqlens" in inspect.signature(op).parameters, name
        params = inspect.signature(op).parameters
        spec = PACKING[name]
        assert set(spec.time + spec.time_if_batched) <= set(params), name
        assert not spec.final_flag or spec.final_flag in params, name


BAD = [
    (torch.tensor([0.0, 3.0]), "int32 or int64"),
    (torch.tensor([[0, 3]]), r"\[N\+1\]"),
    (torch.tensor([1, 3]), "start at 0"),
    (torch.tensor([0, 2]), "end at T=3"),
    (torch.tensor([0, 2, 1, 3]), "non-decreasing"),
    ([0, 3], "tensor"),
]


@pytest.mark.parametrize("cu,message", BAD)
def test_bad_cu_seqlens_raise_naming_the_problem(cu, message):
    with pytest.raises(ValueError, match=message):
        check_cu_seqlens(cu, 3, "gla")


def test_packed_op_refuses_batches_empty_sequences_and_wrong_state_rows():
    args = make_inputs("gla", 2, 4, torch.float32)
    with pytest.raises(ValueError, match="batch 1"):
        rnnzoo.ops.gla(**args, cu_seqlens=torch.tensor([0, 4]))
    args = make_inputs("gla", 1, 4, torch.float32)
    with pytest.raises(ValueError, match="empty sequence"):
        rnnzoo.ops.gla(**args, cu_seqlens=torch.tensor([0, 0, 4]))
    with pytest.raises(ValueError, match="one row per sequence"):
        rnnzoo.ops.gla(**args, initial_state=torch.zeros(3, H, D, D), cu_seqlens=torch.tensor([0, 1, 4]))


def test_log_linear_levels_of_shorter_sequences_are_padded_at_their_end():
    """The Fenwick levels of a shorter sequence are its lowest ones: the missing (empty) highest levels are zeros
    after them, not before."""
    args = make_inputs("log_linear_attention", 1, 6, torch.float32)
    args["offset"] = 0
    _, packed = rnnzoo.ops.log_linear_attention(**args, output_final_state=True, cu_seqlens=torch.tensor([0, 1, 6]))
    _, alone = rnnzoo.ops.log_linear_attention(**seq_slice("log_linear_attention", args, 0, 1),
                                               output_final_state=True)
    assert packed.shape[1] == 4 and alone.shape[1] == 1
    torch.testing.assert_close(packed[:1, :1], alone)
    assert (packed[0, 1:] == 0).all()
