"""The op API of rnnzoo/ops/__init__.py: every name of ``__all__`` is an importable op, its docstring table lists
exactly ``__all__`` with each op's real modes and default mode, and every op returns its output in the input's
dtype and its final state in float32 (float64 for float64 inputs), in every mode. ``_inputs`` has small inputs
of every op (tests/ops/test_common.py runs every op on them too)."""

import importlib
import inspect

import pytest
import torch

import rnnzoo.ops
from rnnzoo.ops.lmu import legendre_state_space, zoh
from rnnzoo.ops.memory import MemoryRule, init_memory_state
from rnnzoo.ops.s4d import s4d_init
from tests.ops.modes import kernel_missing


def _table() -> dict[str, dict[str, str]]:
    """op -> its row of the module docstring's table (column name -> cell)."""
    lines = [line for line in rnnzoo.ops.__doc__.splitlines() if line.startswith("|")]
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines]
    header, rows = cells[0], cells[2:]
    return {row[0]: dict(zip(header, row)) for row in rows}


def _module(name: str):
    return importlib.import_module(inspect.getmodule(getattr(rnnzoo.ops, name)).__name__)


def modes(name: str) -> tuple[str, ...]:
    """The modes op ``name`` accepts: its module's MODES (diagonal_scan's are the module's LOG_MODES)."""
    return _module(name).LOG_MODES if name == "diagonal_scan" else _module(name).MODES


def test_every_name_in_all_is_importable_and_callable():
    for name in rnnzoo.ops.__all__:
        op = getattr(importlib.import_module("rnnzoo.ops"), name)
        assert callable(op), name
    assert len(set(rnnzoo.ops.__all__)) == len(rnnzoo.ops.__all__)


def test_the_docstring_table_lists_exactly_all():
    assert list(_table()) == rnnzoo.ops.__all__


@pytest.mark.parametrize("name", rnnzoo.ops.__all__)
def test_the_table_states_the_real_modes_and_default(name):
    row, params = _table()[name], inspect.signature(getattr(rnnzoo.ops, name)).parameters
    if "mode" not in params:
        assert row["modes"] == row["default mode"] == "-"
        return
    assert row["modes"] == ", ".join(modes(name))
    assert row["default mode"] == params["mode"].default


@pytest.mark.parametrize("name", rnnzoo.ops.__all__)
def test_every_public_op_states_shapes(name):
    doc = getattr(rnnzoo.ops, name).__doc__ + (_module(name).__doc__ or "")
    assert "[B, " in doc, name


def _inputs(name, dtype):
    """Small inputs of op ``name``: B=1, T=3, H=2, K=V=16 (the compiled kernels' vector width)."""
    gen = torch.Generator().manual_seed(0)

    def r(*shape):
        return torch.randn(*shape, generator=gen).to(dtype)

    def gate(*shape):
        return -torch.rand(*shape, generator=gen).to(dtype)

    b, t, h, d = 1, 3, 2, 16
    q, k, v = r(b, t, h, d), r(b, t, h, d), r(b, t, h, d)
    if name in ("simple_gla", "linear_attention", "delta_rule", "gated_delta_rule", "mlstm", "gla", "rwkv6"):
        extra = {"simple_gla": dict(g=gate(b, t, h)), "gla": dict(gk=gate(b, t, h, d)), "linear_attention": {},
                 "delta_rule": dict(beta=gate(b, t, h).neg()), "mlstm": dict(i=r(b, t, h), f=gate(b, t, h)),
                 "gated_delta_rule": dict(g=gate(b, t, h), beta=gate(b, t, h).neg()),
                 "rwkv6": dict(w=gate(b, t, h, d), u=r(h, d))}[name]
        return dict(q=q, k=k, v=v, **extra)
    if name == "delta_product":
        return dict(q=q, k=r(b, 2 * t, h, d), v=r(b, 2 * t, h, d), g=gate(b, t, h), beta=gate(b, 2 * t, h).neg())
    if name in ("dplr_delta_rule", "iplr_delta_rule"):
        gk = dict(gk=gate(b, t, h, d)) if name == "dplr_delta_rule" else {}
        return dict(q=q, k=k, v=v, a=r(b, t, h, d) * 0.2, b=r(b, t, h, d) * 0.2, **gk)
    if name == "kda":
        return dict(q=q, k=k * 0.3, v=v, g=gate(b, t, h, d), beta=gate(b, t, h).neg())
    if name == "gdn2":
        return dict(q=q, k=k * 0.3, v=v, g=gate(b, t, h, d), b=gate(b, t, h, d).neg(), w=gate(b, t, h, d).neg())
    if name in ("ssd", "signed_ssd"):
        a = gate(b, t, h) if name == "ssd" else r(b, t, h).tanh()
        return dict(x=r(b, t, h, d), a=a, b=r(b, t, h, 4), c=r(b, t, h, 4))
    if name in ("selective_scan", "signed_selective_scan"):
        return dict(u=r(b, 8, t), delta=gate(b, 8, t).neg(), A=gate(8, 4), B=r(b, 4, t), C=r(b, 4, t))
    if name == "diagonal_scan":
        return dict(x=r(b, t, 5), g=gate(b, t, 5))
    if name == "signed_diagonal_scan":
        return dict(x=r(b, t, 5), a=r(b, t, 5).tanh())
    if name == "s4d_conv":
        log_dt, log_a, a_imag, c = s4d_init(h, 4, generator=gen)
        return dict(u=r(b, t, h), log_dt=log_dt.to(dtype), log_A_real=log_a.to(dtype), A_imag=a_imag.to(dtype), C=c)
    if name == "aaren":
        return dict(q=r(h, d), k=k, v=v)
    if name == "memory_update":
        rule = MemoryRule()
        return dict(q=q, k=k, v=v, lr=gate(b, t, h).neg(), log_decay=gate(b, t, h), rule=rule,
                    initial_state=init_memory_state((r(b, h, d, d),), rule, momentum=False))
    if name in ("elman", "lstm", "gru"):
        gates = {"elman": 1, "lstm": 4, "gru": 3}[name]
        return dict(x=r(b, t, 5), weight_ih=r(gates * 6, 5), weight_hh=r(gates * 6, 6))
    if name == "slstm":
        return dict(gx=r(b, t, h, 4, d), r=r(h, 4, d, d) * 0.1)
    if name == "lmu_memory":
        abar, bbar = zoh(*legendre_state_space(4, 3.0))
        return dict(u=r(b, t, 5), Abar=abar.to(dtype), Bbar=bbar.to(dtype))
    if name == "long_conv":
        return dict(u=r(b, t, h), k=r(h, 4), D=r(h))
    if name == "dilated_causal_conv":
        return dict(u=r(b, t, h), weight=r(h, 3), bias=r(h), dilation=2)
    if name == "hie":
        return dict(u=r(b, t, 5), weight=r(h, 5, 3), bias=r(h))
    if name == "chunked_attention":
        return dict(q=q, k=k, v=v, chunk_size=2)
    if name == "combiner_attention":
        return dict(q=q, k=k, v=v, w=r(h, d), block_size=2)
    if name == "sparse_local_attention":
        return dict(q=r(b, t, 8), k=r(b, t, 8), v=r(b, t, 6), active=torch.tensor([[True, False, True]]), window=2)
    if name == "routing_attention":
        clusters = torch.randint(0, 2, (b, t, h), generator=gen)
        return dict(q=q, k=k, v=v, q_cluster=clusters, k_cluster=clusters.roll(1, 1))
    if name == "softmax_attention":
        return dict(q=q, k=k, v=v)
    if name == "forgetting_attention":
        return dict(q=q, k=k, v=v, g=gate(b, t, h))
    if name == "apply_rotary":
        return dict(x=q, positions=torch.arange(t)[None])
    if name == "gsa":
        g = gate(b, t, h, 4)
        return dict(q=q, k=k, v=v, s=1 - g.exp(), g=g)
    if name == "comba":
        return dict(q=q, k=k * 0.3, v=v, p=r(b, t, h, d) * 0.3, g=gate(b, t, h), beta=gate(b, t, h).neg())
    if name == "longhorn":
        return dict(x=r(b, t, 5), beta=gate(b, t, 5).neg(), k=r(b, t, 4), q=r(b, t, 4))
    if name == "mamba3":
        return dict(x=r(b, t, h, 2, d), a=gate(b, t, h), dt=gate(b, t, h).neg(), lam=gate(b, t, h).neg(),
                    b=r(b, t, h, 2, d), c=r(b, t, h, 2, d), theta=r(b, t, h, 4))
    if name in ("log_linear_attention", "log_linear_gated_delta_rule"):
        beta = dict(beta=gate(b, t, h).neg()) if name == "log_linear_gated_delta_rule" else {}
        return dict(q=q, k=k * 0.3, v=v, g=gate(b, t, h), level_scales=gate(b, t, h, 3).neg(), **beta)
    if name == "mesa_net":
        return dict(q=q, k=k, v=v, g=gate(b, t, h), lamb=1 - gate(h, d), beta=gate(b, t, h).neg())
    if name == "ttt_linear":
        return dict(q=q, k=k, v=v, w=r(h, d, d) * 0.1, b=r(h, d) * 0.1, eta=gate(b, t, h).neg() * 0.5,
                    ln_weight=1 + r(h, d) * 0.1, ln_bias=r(h, d) * 0.1, mini_batch_size=2)
    if name == "path_attention":
        return dict(q=q, k=k, v=v, w=r(b, t, h, d) * 0.25, beta=gate(b, t, h).neg() * 2, g=gate(b, t, h))
    if name == "deltaformer_attention":
        return dict(q=q, k=k, v=v, beta=gate(b, t, h).neg())
    raise KeyError(name)


STATEFUL = [n for n in rnnzoo.ops.__all__ if _table()[n]["final-state dtype"] != "-"]
CASES = [(n, m) for n in STATEFUL for m in modes(n)]


def test_every_op_has_inputs_here():
    for name in rnnzoo.ops.__all__:
        _inputs(name, torch.float32)


@pytest.mark.parametrize("dtype,state_dtype", [(torch.bfloat16, torch.float32), (torch.float64, torch.float64)])
@pytest.mark.parametrize("name,mode", CASES, ids=[f"{n}-{m}" for n, m in CASES])
def test_output_in_input_dtype_and_final_state_in_float32(name, mode, dtype, state_dtype):
    mamba = name.endswith("selective_scan")  # mamba_ssm's argument names, and its own kernel
    if mode == "kernel" and kernel_missing("selective_scan" if mamba else "linear_attention"):
        pytest.skip("no C compiler: no compiled kernel")
    op = getattr(rnnzoo.ops, name)
    o, state = op(**_inputs(name, dtype), mode=mode, **{"return_last_state" if mamba else "output_final_state": True})
    assert o.dtype == dtype
    parts = state if isinstance(state, tuple) else (state,)  # a tensor, a tuple, or a MemoryState of tuples
    leaves = [t for part in parts for t in (part if isinstance(part, tuple) else (part,))]
    floats = [t for t in leaves if t.is_floating_point() or t.is_complex()]
    assert floats, name
    if _table()[name]["final-state dtype"] == "complex64":
        state_dtype = torch.complex128 if state_dtype == torch.float64 else torch.complex64
    assert all(t.dtype == state_dtype for t in floats), [t.dtype for t in floats]
