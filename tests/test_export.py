"""Exported LM steps (torch.export and ONNX under onnxruntime) generate the same tokens with the same logits
as the model's own step; what cannot be exported is refused naming the reason."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from rnnzoo.export import check_export, export_step, why_not_exportable
from rnnzoo.models.lm import LanguageModel, LMConfig

HAS_ONNX = all(importlib.util.find_spec(m) for m in ("onnx", "onnxscript", "onnxruntime"))
needs_onnx = pytest.mark.skipif(not HAS_ONNX, reason="onnx/onnxscript/onnxruntime not installed (extra rnnzoo[export])")
ROOT = Path(__file__).resolve().parents[1]


def tiny(mixer, layers=2):
    torch.manual_seed(0)
    return LanguageModel(LMConfig(vocab_size=20, mixer=mixer, n_layers=layers, d_model=16)).eval()


def test_torch_export_step_equals_model_step(tmp_path):
    model = tiny("gla")
    meta = export_step(model, tmp_path / "step.pt2", "torch-export")
    assert meta["inputs"][0] == "token" and len(meta["state"]) == len(meta["inputs"]) - 1
    assert check_export(model, tmp_path / "step.pt2", tokens=16) < 1e-5


@needs_onnx
@pytest.mark.parametrize("mixer", ["lstm", "mamba"])
def test_onnx_step_equals_model_step_under_onnxruntime(tmp_path, mixer):
    model = tiny(mixer)
    export_step(model, tmp_path / "step.onnx", "onnx")
    assert check_export(model, tmp_path / "step.onnx", tokens=64) < 1e-5


@needs_onnx
def test_example_generates_with_onnxruntime_only(tmp_path):
    model = tiny("gla", layers=1)
    vocab = ("<unk>", *"abcdefghijklmnopqrs")
    export_step(model, tmp_path / "step.onnx", "onnx", vocab=vocab)
    code = ("import sys, runpy; sys.argv = ['x', %r, '--prompt', 'abc', '--tokens', '10']; "
            "runpy.run_path(%r, run_name='__main__'); assert 'torch' not in sys.modules, 'torch was imported'"
            % (str(tmp_path / "step.onnx"), str(ROOT / "examples" / "onnx_generate.py")))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    text = out.stdout.strip()
    assert text.startswith("abc") and len(text) == 13
    with torch.no_grad():  # the same greedy continuation from PyTorch
        state, ids = None, [vocab.index(c) for c in "abc"]
        for i in ids:
            logits, state = model.step(torch.tensor([i]), state)
        for _ in range(10):
            ids.append(int(logits.argmax()))
            logits, state = model.step(torch.tensor([ids[-1]]), state)
    assert text == "".join(vocab[i] for i in ids)


def test_growing_state_and_bad_format_are_refused(tmp_path):
    model = tiny("attention", layers=1)
    assert "grows with the sequence" in why_not_exportable(model)
    with pytest.raises(ValueError, match="cannot export attention: .*grows with the sequence"):
        export_step(model, tmp_path / "a.onnx", "onnx")
    with pytest.raises(ValueError, match="unknown format 'tflite'"):
        export_step(tiny("lstm", 1), tmp_path / "a.tflite", "tflite")
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_cli_refuses_an_existing_out(tmp_path, capsys):
    from rnnzoo.cli import main

    (tmp_path / "step.onnx").write_text("keep me")
    with pytest.raises(SystemExit) as exit_:
        main(["export", "--checkpoint", str(tmp_path), "--format", "onnx", "--out", str(tmp_path / "step.onnx")])
    assert exit_.value.code == 2 and "exists; pass --overwrite" in capsys.readouterr().err
    assert (tmp_path / "step.onnx").read_text() == "keep me"
