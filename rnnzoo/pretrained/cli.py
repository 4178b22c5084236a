"""``rnnzoo vad``: Silero VAD's trained network, run on rnnzoo's lstm mixer, over a WAV file or a synthesised
signal; prints the speech segments."""

from __future__ import annotations

import argparse
import wave
from pathlib import Path

import torch


def add_parser(sub) -> None:
    p = sub.add_parser(
        "vad", help="voice activity with Silero VAD's trained LSTM running on rnnzoo's lstm mixer",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Reads the model shipped in the silero-vad wheel (pip install --no-deps silero-vad==6.2.3) "
                    "and prints the segments whose speech probability passes --threshold. From Python: "
                    "rnnzoo.pretrained.silero_vad.SileroVAD.from_package().",
        epilog="examples:\n  rnnzoo vad --signal speechlike\n  rnnzoo vad --wav recording.wav --threshold 0.6")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--wav", type=Path, help="16 kHz mono 16-bit PCM WAV file")
    source.add_argument("--signal", choices=("silence", "noise", "tone", "chirp", "speechlike"),
                        help="a synthesised test signal instead of a file")
    p.add_argument("--seconds", type=float, default=4.0, help="length of --signal (default: 4.0)")
    p.add_argument("--threshold", type=float, default=0.5, help="speech probability threshold (default: 0.5)")
    p.add_argument("--weights", choices=("torchscript", "safetensors"), default="torchscript",
                   help="which of the wheel's weight releases to load (default: torchscript)")
    p.set_defaults(func=run)


def read_wav(path: Path) -> torch.Tensor:
    """A 16 kHz mono 16-bit PCM WAV -> audio [1, N] in [-1, 1], zero-padded to a multiple of 512 samples."""
    from rnnzoo.pretrained.silero_vad import SAMPLE_RATE, WINDOW

    try:
        with wave.open(str(path), "rb") as f:
            rate, channels, width, frames = f.getframerate(), f.getnchannels(), f.getsampwidth(), f.getnframes()
            raw = f.readframes(frames)
    except (wave.Error, EOFError) as e:
        raise ValueError(f"{path}: not a PCM WAV file ({e})") from None
    if (rate, channels, width) != (SAMPLE_RATE, 1, 2):
        raise ValueError(f"{path}: need 16000 Hz mono 16-bit PCM, got {rate} Hz, {channels} channel(s), "
                         f"{8 * width}-bit (convert it first, e.g. with ffmpeg -ar 16000 -ac 1)")
    if frames == 0:
        raise ValueError(f"{path}: no audio frames")
    audio = torch.frombuffer(bytearray(raw), dtype=torch.int16).float() / 32768.0
    pad = -len(audio) % WINDOW
    return torch.nn.functional.pad(audio, (0, pad)).unsqueeze(0)


def run(args: argparse.Namespace) -> int:
    from rnnzoo.pretrained.silero_vad import SAMPLE_RATE, WINDOW, SileroVAD, synthetic_audio

    if not 0 < args.threshold < 1:
        raise ValueError(f"--threshold must be in (0, 1), got {args.threshold}")
    if args.wav is None and not 0 < args.seconds <= 3600:
        raise ValueError(f"--seconds must be in (0, 3600], got {args.seconds}")
    audio = read_wav(args.wav) if args.wav else synthetic_audio(args.signal, seconds=args.seconds)
    model = SileroVAD.from_package(args.weights)
    with torch.no_grad():
        probs = model(audio)[0]
    speech = (probs > args.threshold).tolist()
    hop = WINDOW / SAMPLE_RATE
    segments, start = [], None
    for i, on in enumerate(speech + [False]):
        if on and start is None:
            start = i
        elif not on and start is not None:
            segments.append((start * hop, i * hop))
            start = None
    print(f"{len(probs)} windows of {hop * 1000:.0f} ms; mean speech probability {probs.mean():.3f}, "
          f"max {probs.max():.3f}; {len(segments)} segment(s) above {args.threshold}")
    for a, b in segments:
        print(f"  {a:7.2f}s - {b:7.2f}s")
    return 0
