"""Silero VAD (snakers4/silero-vad, MIT licence) on rnnzoo's ``lstm`` mixer.

The ``silero-vad`` wheel ships its 16 kHz voice-activity model as TorchScript (``silero_vad.jit``, the
model ``silero_vad.load_silero_vad()`` returns), as ONNX files with the same weights, and as safetensors
(``silero_vad_16k.safetensors``, another release of the weights, read by the package's tinygrad example).
Its recurrent core is one LSTM cell (128 -> 128) in torch's layout, so the weights copy into rnnzoo's
``lstm`` mixer unchanged (names as in the safetensors file; the TorchScript model's are mapped to them):

=====================================  =====================================
silero_vad_16k.safetensors             rnnzoo
=====================================  =====================================
``lstm_cell.weight_ih`` [512, 128]     ``lstm.weight_ih`` (gate order i, f, g, o)
``lstm_cell.weight_hh`` [512, 128]     ``lstm.weight_hh``
``lstm_cell.bias_ih``, ``bias_hh``     ``lstm.bias_ih``, ``lstm.bias_hh``
``stft_conv``, ``conv1..4``            ``SileroVAD.stft``, ``SileroVAD.encoder``
``final_conv``                         ``SileroVAD.head``
=====================================  =====================================

One step reads a window of 576 samples (64 of context, the end of the previous window, then 512 new ones),
x [B, 576] -> reflect-pad 64 on the right -> STFT as a conv1d (258 filters of 256, stride 128: 129 real and
129 imaginary bins) -> magnitude [B, 129, 4] -> four conv+ReLU layers -> feature [B, 128] -> LSTM step
-> ReLU -> 1x1 conv -> sigmoid: the speech probability [B, 1].

``stream(audio)`` runs the package's own streaming protocol one window at a time through the mixer's
``step``; ``forward(audio)`` computes every window's feature at once and runs the mixer's fused forward over
the sequence of features (the two agree; a test shows it). ``rnnzoo.pretrained.silero_vad`` only reads the
wheel's files: install it with ``pip install --no-deps silero-vad==6.2.3``.
"""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from rnnzoo import mixers

SAMPLE_RATE = 16_000
WINDOW = 512  # new samples per step
CONTEXT = 64  # samples of the previous window each step also reads
HIDDEN = 128


def package_file(name: str) -> Path:
    """Path of ``silero_vad/data/<name>`` inside the installed wheel; a one-line error if it is missing."""
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the silero-vad package is not installed: pip install --no-deps silero-vad==6.2.3")
    path = Path(spec.submodule_search_locations[0]) / "data" / name
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the installed silero-vad package")
    return path


class SileroVAD(nn.Module):
    """Silero VAD's 16 kHz network with its LSTM cell as rnnzoo's ``lstm`` mixer (d_model 128)."""

    def __init__(self):
        super().__init__()
        self.stft = nn.Conv1d(1, 258, kernel_size=256, stride=128, bias=False)
        self.encoder = nn.ModuleList([
            nn.Conv1d(129, 128, 3, padding=1), nn.Conv1d(128, 64, 3, stride=2, padding=1),
            nn.Conv1d(64, 64, 3, stride=2, padding=1), nn.Conv1d(64, 128, 3, padding=1)])
        self.lstm = mixers.build("lstm", HIDDEN)
        self.head = nn.Conv1d(HIDDEN, 1, 1)

    @classmethod
    def from_package(cls, weights: str = "torchscript") -> SileroVAD:
        """The model with the trained weights shipped in the wheel. ``"torchscript"``: the 16 kHz parameters of
        ``silero_vad.jit``, the model the package loads by default (its ONNX files hold the same weights);
        ``"safetensors"``: ``silero_vad_16k.safetensors``, the release the package's tinygrad example reads,
        whose weights differ from the TorchScript/ONNX ones (a different training run; see docs/pretrained.md)."""
        if weights == "torchscript":
            named = _torchscript_weights()
        elif weights == "safetensors":
            from safetensors.torch import load_file

            named = load_file(str(package_file("silero_vad_16k.safetensors")))
        else:
            raise ValueError(f"weights must be 'torchscript' or 'safetensors', got {weights!r}")
        model = cls()
        mapped = {"stft.weight": named.pop("stft_conv.weight"),
                  "head.weight": named.pop("final_conv.weight"), "head.bias": named.pop("final_conv.bias")}
        for i in range(4):
            for kind in ("weight", "bias"):
                mapped[f"encoder.{i}.{kind}"] = named.pop(f"conv{i + 1}.{kind}")
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            mapped[f"lstm.{name}"] = named.pop(f"lstm_cell.{name}")
        if named:
            raise ValueError(f"silero-vad {weights} weights have tensors this mapping does not know: {sorted(named)}")
        model.load_state_dict(mapped)
        return model.eval()

    def features(self, windows: torch.Tensor) -> torch.Tensor:
        """windows [N, 576] (context + new samples) -> the LSTM's inputs [N, 128]."""
        x = F.pad(windows.unsqueeze(1), (0, CONTEXT), mode="reflect")
        x = self.stft(x)
        x = torch.sqrt(x[:, :129] ** 2 + x[:, 129:] ** 2)
        for conv in self.encoder:
            x = F.relu(conv(x))
        return x.squeeze(-1)

    def probability(self, h: torch.Tensor) -> torch.Tensor:
        """LSTM outputs h [..., 128] -> speech probabilities [..., 1]."""
        return torch.sigmoid(F.relu(h) @ self.head.weight[:, :, 0].T + self.head.bias)

    def init_state(self, batch_size: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        """(h, c), each [B, 128]: the LSTM's state; with the context samples it is all a stream carries."""
        return self.lstm.init_state(batch_size)

    def step(self, window: torch.Tensor, state) -> tuple[torch.Tensor, tuple]:
        """One window [B, 576] and the state (h, c) -> (probability [B, 1], next state)."""
        h, state = self.lstm.step(self.features(window), state)
        return self.probability(h), state

    def stream(self, audio: torch.Tensor, state=None) -> tuple[torch.Tensor, list]:
        """audio [B, N] at 16 kHz, N a multiple of 512 -> (probabilities [B, N // 512], the state after each
        window: a list of (h, c)), stepping one window at a time as the package's own wrapper does."""
        windows = _windows(audio)
        state = self.init_state(audio.shape[0]) if state is None else state
        probs, states = [], []
        for t in range(windows.shape[1]):
            p, state = self.step(windows[:, t], state)
            probs.append(p)
            states.append(state)
        return torch.cat(probs, dim=1), states

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """audio [B, N] -> probabilities [B, N // 512]: every window's features at once, then the mixer's fused
        forward over the feature sequence."""
        windows = _windows(audio)
        b, n, _ = windows.shape
        feats = self.features(windows.reshape(b * n, -1)).reshape(b, n, HIDDEN)
        h, _ = self.lstm(feats)
        return self.probability(h)[..., 0]


def _torchscript_weights() -> dict[str, torch.Tensor]:
    """The 16 kHz model's tensors in ``silero_vad.jit`` under the safetensors file's names."""
    with warnings.catch_warnings():  # torch deprecates TorchScript; it is the format the package ships
        warnings.simplefilter("ignore", DeprecationWarning)
        model = torch.jit.load(str(package_file("silero_vad.jit")), map_location="cpu")._model
    tensors = {**dict(model.named_parameters()), **dict(model.named_buffers())}
    names = {"stft.forward_basis_buffer": "stft_conv.weight", "decoder.decoder.2.weight": "final_conv.weight",
             "decoder.decoder.2.bias": "final_conv.bias"}
    for i in range(4):
        for kind in ("weight", "bias"):
            names[f"encoder.{i}.reparam_conv.{kind}"] = f"conv{i + 1}.{kind}"
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        names[f"decoder.rnn.{name}"] = f"lstm_cell.{name}"
    missing = sorted(set(names) - set(tensors))
    if missing:
        raise ValueError(f"silero_vad.jit lacks the tensors {missing}: another silero-vad release than 6.2.3?")
    return {new: tensors[old].detach().clone() for old, new in names.items()}


def _windows(audio: torch.Tensor) -> torch.Tensor:
    """audio [B, N] -> windows [B, N // 512, 576]: each 512 new samples with the 64 before them (zeros first)."""
    if audio.dim() != 2 or audio.shape[1] == 0 or audio.shape[1] % WINDOW:
        raise ValueError(f"audio must be [batch, samples] with samples a positive multiple of {WINDOW}, "
                         f"got shape {tuple(audio.shape)}")
    if not torch.isfinite(audio).all():
        raise ValueError("audio contains NaN or Inf")
    padded = F.pad(audio, (CONTEXT, 0))
    return padded.unfold(1, WINDOW + CONTEXT, WINDOW)


def synthetic_audio(kind: str, seconds: float = 2.0, seed: int = 0) -> torch.Tensor:
    """A test signal [1, N] at 16 kHz, N a multiple of 512: ``"silence"``, ``"noise"`` (white, 0.1 rms),
    ``"tone"`` (440 Hz), ``"chirp"`` (100 Hz -> 4 kHz) or ``"speechlike"`` (a glottal pulse train at a
    wandering 120-220 Hz pitch through three moving formant resonators, in syllable-like bursts)."""
    g = torch.Generator().manual_seed(seed)
    n = int(seconds * SAMPLE_RATE) // WINDOW * WINDOW
    t = torch.arange(n, dtype=torch.float64) / SAMPLE_RATE
    if kind == "silence":
        x = torch.zeros(n, dtype=torch.float64)
    elif kind == "noise":
        x = 0.1 * torch.randn(n, generator=g, dtype=torch.float64)
    elif kind == "tone":
        x = 0.3 * torch.sin(2 * torch.pi * 440 * t)
    elif kind == "chirp":
        f0, f1 = 100.0, 4000.0
        x = 0.3 * torch.sin(2 * torch.pi * (f0 * t + (f1 - f0) * t ** 2 / (2 * seconds)))
    elif kind == "speechlike":
        x = _speechlike(t, g)
    else:
        raise ValueError(f"unknown signal {kind!r}; choose silence, noise, tone, chirp or speechlike")
    return x.float().unsqueeze(0)


def _speechlike(t: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Source-filter synthesis: pulses at a slowly varying pitch, filtered by three formants that move, gated
    by 4 Hz syllable envelopes."""
    pitch = 170 + 50 * torch.sin(2 * torch.pi * 0.7 * t)
    phase = torch.cumsum(pitch / SAMPLE_RATE, 0)
    source = (torch.frac(phase) < 0.08).double() + 0.02 * torch.randn(len(t), generator=g, dtype=torch.float64)
    out = torch.zeros_like(t)
    for f0, swing in ((700.0, 200.0), (1200.0, 500.0), (2600.0, 300.0)):
        freq = f0 + swing * torch.sin(2 * torch.pi * 1.3 * t + f0)
        out = out + _resonate(source, freq, bandwidth=90.0)
    envelope = torch.clamp(torch.sin(2 * torch.pi * 4 * t), min=0) ** 0.5
    out = out * envelope
    return 0.3 * out / out.abs().max()


def _resonate(x: torch.Tensor, freq: torch.Tensor, bandwidth: float) -> torch.Tensor:
    """A two-pole resonator with a time-varying centre frequency, run sample by sample (float64)."""
    r = torch.exp(torch.tensor(-torch.pi * bandwidth / SAMPLE_RATE, dtype=torch.float64))
    a1 = (2 * r * torch.cos(2 * torch.pi * freq / SAMPLE_RATE)).tolist()
    a2 = float(-r * r)
    xs, y1, y2, out = x.tolist(), 0.0, 0.0, []
    for i, v in enumerate(xs):
        y = v + a1[i] * y1 + a2 * y2
        out.append(y)
        y1, y2 = y, y1
    return torch.tensor(out, dtype=torch.float64)
