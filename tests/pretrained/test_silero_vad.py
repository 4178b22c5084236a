"""Silero VAD's trained network on rnnzoo's lstm mixer equals the package's own TorchScript and ONNX models:
same speech probabilities and the same LSTM states, window by window, on synthesised audio."""

import importlib.util

import pytest
import torch

pytestmark = [pytest.mark.skipif(importlib.util.find_spec("silero_vad") is None,
                                 reason="silero-vad not installed (pip install --no-deps silero-vad==6.2.3)"),
              pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")]

from rnnzoo.pretrained.silero_vad import (  # noqa: E402
    CONTEXT,
    WINDOW,
    SileroVAD,
    _windows,
    package_file,
    synthetic_audio,
)

SIGNALS = ("silence", "noise", "tone", "chirp", "speechlike")


@pytest.fixture(scope="module")
def model():
    return SileroVAD.from_package()


@pytest.fixture(scope="module")
def jit():
    return torch.jit.load(str(package_file("silero_vad.jit")), map_location="cpu").eval()


def package_stream(jit, audio):
    """The package's TorchScript model driven window by window as its own wrapper is."""
    jit.reset_states()
    return torch.cat([jit(audio[:, i:i + WINDOW], 16000) for i in range(0, audio.shape[1], WINDOW)], 1)


@pytest.mark.parametrize("kind", SIGNALS)
def test_step_equals_the_packages_torchscript_model(model, jit, kind):
    audio = synthetic_audio(kind, seconds=1.0, seed=3)
    with torch.no_grad():
        ours, _ = model.stream(audio)
        ref = package_stream(jit, audio)
    assert ours.shape == ref.shape == (1, audio.shape[1] // WINDOW)
    torch.testing.assert_close(ours, ref, atol=1e-6, rtol=0)


def test_speechlike_audio_is_detected_and_tones_are_not(model):
    with torch.no_grad():
        speech = model(synthetic_audio("speechlike", seconds=2.0))
        tone = model(synthetic_audio("tone", seconds=2.0))
    assert speech.max() > 0.5 > tone.max()  # the trained model's behaviour, not ours


def test_fused_forward_over_windows_equals_the_step_stream(model):
    audio = torch.cat([synthetic_audio(k, seconds=0.5, seed=1) for k in ("speechlike", "noise")])
    with torch.no_grad():
        stepped, _ = model.stream(audio)
        fused = model(audio)
    torch.testing.assert_close(fused, stepped, atol=1e-6, rtol=0)


def test_lstm_states_and_probabilities_equal_the_packages_onnx_model(model):
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime not installed (extra rnnzoo[export])")
    import numpy as np

    session = ort.InferenceSession(str(package_file("silero_vad.onnx")), providers=["CPUExecutionProvider"])
    audio = synthetic_audio("speechlike", seconds=1.0, seed=5)
    with torch.no_grad():
        ours, states = model.stream(audio)
    state = np.zeros((2, 1, 128), np.float32)
    windows = _windows(audio)[0].numpy()
    for t in range(windows.shape[0]):
        prob, state = session.run(None, {"input": windows[t:t + 1], "state": state,
                                         "sr": np.array(16000, dtype=np.int64)})
        torch.testing.assert_close(ours[:, t:t + 1], torch.from_numpy(prob), atol=1e-5, rtol=0)
        torch.testing.assert_close(torch.stack(states[t]), torch.from_numpy(state), atol=1e-5, rtol=0)


def test_safetensors_release_runs_its_lstm_cell_exactly():
    model = SileroVAD.from_package("safetensors")
    cell = torch.nn.LSTMCell(128, 128)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(cell, name).copy_(getattr(model.lstm, name))
        feats = model.features(_windows(synthetic_audio("chirp", seconds=0.5))[0])
        state = model.init_state(1)
        h, c = torch.zeros(1, 128), torch.zeros(1, 128)
        for t in range(feats.shape[0]):
            _, state = model.lstm.step(feats[t:t + 1], state)
            h, c = cell(feats[t:t + 1], (h, c))
            torch.testing.assert_close(state[0], h, atol=1e-6, rtol=0)
            torch.testing.assert_close(state[1], c, atol=1e-6, rtol=0)


def test_windows_carry_the_previous_64_samples():
    audio = torch.arange(2 * WINDOW, dtype=torch.float32).unsqueeze(0)
    w = _windows(audio)
    assert w.shape == (1, 2, WINDOW + CONTEXT)
    assert (w[0, 0, :CONTEXT] == 0).all() and torch.equal(w[0, 1, :CONTEXT], audio[0, WINDOW - CONTEXT:WINDOW])


@pytest.mark.parametrize("audio,match", [
    (torch.zeros(1, 500), "multiple of 512"), (torch.zeros(512), r"\[batch, samples\]"),
    (torch.full((1, 512), float("nan")), "NaN"), (torch.zeros(1, 0), "positive multiple")])
def test_bad_audio_is_refused(model, audio, match):
    with pytest.raises(ValueError, match=match):
        model(audio)


def test_unknown_weights_and_signals_are_refused():
    with pytest.raises(ValueError, match="torchscript' or 'safetensors"):
        SileroVAD.from_package("onnx")
    with pytest.raises(ValueError, match="unknown signal"):
        synthetic_audio("music")


def write_wav(path, audio, rate=16000, channels=1):
    import wave

    with wave.open(str(path), "wb") as f:
        f.setnchannels(channels)
        f.setsampwidth(2)
        f.setframerate(rate)
        f.writeframes((audio.clamp(-1, 1) * 32767).to(torch.int16).numpy().tobytes())


def test_vad_command_reads_a_wav_and_prints_segments(tmp_path, capsys):
    from rnnzoo.cli import main

    audio = torch.cat([torch.zeros(1, 8000), synthetic_audio("speechlike", seconds=1.0), torch.zeros(1, 8000)], 1)
    write_wav(tmp_path / "a.wav", audio[0])
    assert main(["vad", "--wav", str(tmp_path / "a.wav")]) == 0
    out = capsys.readouterr().out
    first = out.splitlines()[1].split()
    assert "segment(s) above 0.5" in out and float(first[0].rstrip("s")) >= 0.4  # speech starts after 0.5 s


def test_vad_command_refuses_other_wav_formats(tmp_path):
    from rnnzoo.pretrained.cli import read_wav

    write_wav(tmp_path / "b.wav", torch.zeros(800), rate=8000)
    with pytest.raises(ValueError, match="need 16000 Hz mono 16-bit PCM, got 8000 Hz"):
        read_wav(tmp_path / "b.wav")
    (tmp_path / "c.wav").write_bytes(b"RIFF0000WAVEjunk")
    with pytest.raises(ValueError, match="not a PCM WAV file"):
        read_wav(tmp_path / "c.wav")
