"""A video's sound as two curves, one value per ``interval`` seconds, from one FFmpeg run:

- **loudness**: EBU R128 momentary loudness (LUFS, K-weighted over 400 ms), FFmpeg's
  ``ebur128`` filter logging it every 100 ms, averaged per interval, floored at -70 (silence);
- **energy**: the RMS level of the samples (downmixed to mono at 8 kHz), dBFS, floored at -90.

Synchronous (a worker thread calls it); errors are the media library's: ``UnsupportedMedia``
without an audio stream, ``CorruptMedia`` when FFmpeg cannot decode it."""

from __future__ import annotations

import math
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from v100.media._errors import CorruptMedia, UnsupportedMedia
from v100.media._ffmpeg import ffmpeg_path, input_args

__all__ = ["AudioCurves", "audio_curves"]

_RATE = 8000
_LINE = re.compile(r"\bt:\s*([0-9.]+)\s+TARGET:.*?\bM:\s*(-?[0-9.]+|-?inf|nan)")
_SILENT_LUFS = -70.0
_SILENT_DBFS = -90.0


@dataclass(frozen=True, slots=True)
class AudioCurves:
    interval: float
    loudness: list[float]
    energy: list[float]


def audio_curves(src: str | Path, *, interval: float = 0.5) -> AudioCurves:
    """The loudness and energy curves of the first audio stream of ``src``."""
    if interval <= 0:
        raise ValueError("interval must be positive")
    with tempfile.TemporaryDirectory(prefix="v100-curves-") as scratch:
        out = Path(scratch) / "audio.f32"
        command = [
            ffmpeg_path(), "-hide_banner", "-nostdin", "-y", "-loglevel", "info",
            *input_args(src), "-map", "0:a:0", "-vn", "-sn", "-dn",
            "-af", f"ebur128=framelog=info,aresample={_RATE}", "-ac", "1",
            "-f", "f32le", "-acodec", "pcm_f32le", str(out),
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, check=False)  # noqa: S603
        log = done.stderr.decode("utf-8", "replace")
        if done.returncode != 0:
            if "matches no streams" in log or "does not contain any stream" in log:
                raise UnsupportedMedia("the file has no audio stream")
            raise CorruptMedia("the audio cannot be decoded")
        samples = np.fromfile(out, dtype="<f4") if out.exists() else np.zeros(0, np.float32)
    per = max(1, round(interval * _RATE))
    count = max(1, math.ceil(samples.size / per))
    padded = np.zeros(count * per, dtype=np.float64)
    padded[: samples.size] = samples
    rms = np.sqrt((padded.reshape(count, per) ** 2).mean(axis=1))
    energy = [
        round(max(_SILENT_DBFS, 20 * math.log10(v)), 2) if v > 0 else _SILENT_DBFS for v in rms
    ]
    sums, seen = [0.0] * count, [0] * count
    for match in _LINE.finditer(log):
        slot = min(count - 1, int(float(match.group(1)) / interval - 1e-9))
        value = float(match.group(2)) if match.group(2)[-1].isdigit() else _SILENT_LUFS
        sums[slot] += max(_SILENT_LUFS, value)
        seen[slot] += 1
    loudness = [round(s / n, 2) if n else _SILENT_LUFS for s, n in zip(sums, seen, strict=True)]
    return AudioCurves(interval, loudness, energy)
