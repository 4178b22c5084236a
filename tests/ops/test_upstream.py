"""Dispatch of ``mode="auto"`` to the upstream GPU kernels (flash-linear-attention, mamba_ssm), with the
upstream modules mocked: the op hands its arguments over unchanged and returns the kernel's result; without
the package the PyTorch form runs and one warning names the op; explicit modes never dispatch; the report
says what runs where."""

import sys
import types
import warnings

import pytest
import torch

import rnnzoo
from rnnzoo.ops import gla, selective_scan, simple_gla
from rnnzoo.ops.kernels import upstream


@pytest.fixture
def accelerator(monkeypatch):
    """Pretend CPU tensors live on a GPU, so the dispatch path runs here."""
    monkeypatch.setattr(upstream, "on_accelerator", lambda t: True)
    monkeypatch.setattr(upstream, "_warned", set())


def fake_module(monkeypatch, path, attr, fn):
    parts = path.split(".")
    for i in range(1, len(parts) + 1):
        name = ".".join(parts[:i])
        monkeypatch.setitem(sys.modules, name, sys.modules.get(name) or types.ModuleType(name))
    setattr(sys.modules[path], attr, fn)


def qkv(b=1, t=8, h=2, k=4):
    torch.manual_seed(0)
    return (torch.randn(b, t, h, k), torch.randn(b, t, h, k), torch.randn(b, t, h, k),
            -torch.rand(b, t, h, k))


def test_gla_auto_hands_its_arguments_to_fla_and_returns_its_result(accelerator, monkeypatch):
    calls = []

    def chunk_gla(q, k, v, g, scale=None, initial_state=None, output_final_state=False):
        calls.append((q, k, v, g, scale, initial_state, output_final_state))
        return gla(q, k, v, g, scale=scale, initial_state=initial_state, output_final_state=output_final_state,
                   mode="recurrent")

    fake_module(monkeypatch, "fla.ops.gla", "chunk_gla", chunk_gla)
    q, k, v, g = qkv()
    o, s = gla(q, k, v, g, output_final_state=True)
    assert len(calls) == 1 and calls[0][0] is q and calls[0][3] is g and calls[0][4] == 4 ** -0.5
    ref, ref_s = gla(q, k, v, g, output_final_state=True, mode="recurrent")  # explicit mode: never dispatched
    assert len(calls) == 1
    torch.testing.assert_close(o, ref)
    torch.testing.assert_close(s, ref_s)


def test_simple_gla_and_selective_scan_dispatch(accelerator, monkeypatch):
    seen = []
    fake_module(monkeypatch, "fla.ops.simple_gla", "chunk_simple_gla",
                lambda *a, **kw: seen.append("simple_gla") or ("o", "s"))
    fake_module(monkeypatch, "mamba_ssm.ops.selective_scan_interface", "selective_scan_fn",
                lambda *a: seen.append(("selective_scan", len(a))) or "out")
    q, k, v, g = qkv()
    assert simple_gla(q, k, v, g[..., 0]) == ("o", "s")
    u = torch.randn(1, 4, 8)
    assert selective_scan(u, u.abs(), -torch.rand(4, 3), torch.randn(1, 3, 8), torch.randn(1, 3, 8)) == "out"
    assert seen == ["simple_gla", ("selective_scan", 10)]
    # mamba_ssm has no initial state: an op given one runs rnnzoo's own scan
    out = selective_scan(u, u.abs(), -torch.rand(4, 3), torch.randn(1, 3, 8), torch.randn(1, 3, 8),
                         initial_state=torch.zeros(1, 4, 3))
    assert isinstance(out, torch.Tensor) and len(seen) == 2


def test_missing_package_warns_once_naming_the_op_and_runs_pytorch(accelerator, monkeypatch):
    monkeypatch.setitem(sys.modules, "fla", None)  # import fla fails
    q, k, v, g = qkv()
    with pytest.warns(UserWarning, match=r"rnnzoo.ops.gla .*flash-linear-attention is not installed.*chunk form"):
        o, _ = gla(q, k, v, g)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the second call is silent
        gla(q, k, v, g)
    torch.testing.assert_close(o, gla(q, k, v, g, mode="recurrent")[0], atol=1e-5, rtol=1e-5)


def test_cpu_tensors_never_dispatch(monkeypatch):
    fake_module(monkeypatch, "fla.ops.gla", "chunk_gla", lambda *a, **kw: pytest.fail("dispatched on CPU"))
    q, k, v, g = qkv()
    gla(q, k, v, g)


def test_backend_report_names_each_ops_implementation(monkeypatch):
    cpu = rnnzoo.backend_report("cpu")
    assert set(cpu) >= {"gla", "selective_scan", "delta_rule", "softmax_attention"}
    assert cpu["delta_rule"] == "rnnzoo compiled CPU kernel (delta_rule)" or "cannot run here" in cpu["delta_rule"]
    assert cpu["mlstm"] == "rnnzoo compiled CPU kernel (mlstm)" or "cannot run here" in cpu["mlstm"]
    assert cpu["softmax_attention"].startswith("rnnzoo PyTorch form")
    monkeypatch.setitem(sys.modules, "fla", None)
    monkeypatch.setitem(sys.modules, "mamba_ssm", None)
    gpu = rnnzoo.backend_report("cuda")
    assert "flash-linear-attention is not installed" in gpu["gla"] and "chunk form" in gpu["gla"]
    assert "no upstream kernel" in gpu["delta_rule"]
    fake_module(monkeypatch, "fla.ops.gla", "chunk_gla", lambda *a, **kw: None)
    assert rnnzoo.backend_report("cuda")["gla"] == "upstream fla.ops.gla.chunk_gla (flash-linear-attention)"


@pytest.mark.skipif(not torch.cuda.is_available() or upstream.find("gla")[0] is None,
                    reason="needs CUDA and flash-linear-attention")
def test_real_fla_gla_on_cuda_equals_our_reference():
    q, k, v, g = (t.cuda() for t in qkv(b=2, t=64, h=2, k=16))
    o, s = gla(q, k, v, g, output_final_state=True)  # upstream
    ref, ref_s = gla(q, k, v, g, output_final_state=True, mode="recurrent")
    torch.testing.assert_close(o, ref, atol=1e-3, rtol=1e-3)
    torch.testing.assert_close(s, ref_s, atol=1e-3, rtol=1e-3)
