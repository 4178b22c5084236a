"""docs/pretrained.md's table: Silero VAD on rnnzoo's lstm mixer against the package's own TorchScript and
ONNX models on synthesised signals (max abs differences of probabilities and LSTM states, fused vs step).

    python benchmarks/silero_equivalence.py              # 4-second signals, as in the docs
    python benchmarks/silero_equivalence.py --seconds 1
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import torch

from rnnzoo.pretrained.silero_vad import WINDOW, SileroVAD, _windows, package_file, synthetic_audio

SIGNALS = ("silence", "noise", "tone", "chirp", "speechlike")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=4.0)
    args = p.parse_args()
    import onnxruntime as ort

    model, other = SileroVAD.from_package(), SileroVAD.from_package("safetensors")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        jit = torch.jit.load(str(package_file("silero_vad.jit")), map_location="cpu").eval()
    session = ort.InferenceSession(str(package_file("silero_vad.onnx")), providers=["CPUExecutionProvider"])
    print("| signal | windows | package prob mean / max | vs TorchScript (prob) | vs ONNX (prob) | "
          "vs ONNX (LSTM h, c) | fused vs step | safetensors prob mean / max |\n|---|---:|---|---:|---:|---:|---:|---|")
    for kind in SIGNALS:
        audio = synthetic_audio(kind, seconds=args.seconds)
        with torch.no_grad():
            ours, states = model.stream(audio)
            fused, theirs = model(audio), other(audio)
            jit.reset_states()
            ref = torch.cat([jit(audio[:, i:i + WINDOW], 16000) for i in range(0, audio.shape[1], WINDOW)], 1)
        state, windows, prob_diff, state_diff = np.zeros((2, 1, 128), np.float32), _windows(audio)[0].numpy(), 0.0, 0.0
        for t in range(windows.shape[0]):
            prob, state = session.run(None, {"input": windows[t:t + 1], "state": state,
                                             "sr": np.array(16000, dtype=np.int64)})
            prob_diff = max(prob_diff, abs(prob.item() - ours[0, t].item()))
            state_diff = max(state_diff, float(np.abs(torch.stack(states[t]).numpy() - state).max()))
        print(f"| {kind} | {windows.shape[0]} | {ref.mean():.3f} / {ref.max():.3f} | {(ours - ref).abs().max():.1e} | "
              f"{prob_diff:.1e} | {state_diff:.1e} | {(fused - ours).abs().max():.1e} | "
              f"{theirs.mean():.3f} / {theirs.max():.3f} |")


if __name__ == "__main__":
    main()
