"""Decoding any audio or video file to what the speech models read: 16 kHz mono float32 PCM,
through the platform's FFmpeg (``v100.media.ffmpeg_path``) with its safe input whitelists.
Failures are ``v100.media`` errors, so services map them to codes as for any media job."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import numpy.typing as npt

from v100.media._errors import CorruptMedia, EmptyMedia, FFmpegTimedOut, UnsupportedMedia
from v100.media._ffmpeg import ffmpeg_path, input_args

__all__ = ["SAMPLE_RATE", "Pcm", "load_pcm"]

SAMPLE_RATE = 16_000
Pcm = npt.NDArray[np.float32]

# FFmpeg's words for an input that has no audio we can read, as opposed to damaged data.
_NO_AUDIO = ("does not contain any stream", "matches no streams", "Output file is empty")


def load_pcm(path: str | Path, *, timeout: float | None = None) -> Pcm:
    """The first audio stream of ``path`` as 16 kHz mono float32 in [-1, 1]. Blocking: call it
    from a worker thread. Raises ``EmptyMedia`` (zero bytes, or no samples), ``UnsupportedMedia``
    (no container we read, or no audio stream) or ``CorruptMedia`` (data FFmpeg cannot decode)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(path)
    if path.stat().st_size == 0:
        raise EmptyMedia("the file is empty")
    command = [
        ffmpeg_path(),
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "error",
        # Damaged packets make FFmpeg fail instead of going on with a silent gap.
        "-xerror",
        *input_args(path),
        "-map",
        "0:a:0",
        "-vn",
        "-sn",
        "-dn",
        "-ac",
        "1",
        "-ar",
        str(SAMPLE_RATE),
        "-f",
        "f32le",
        "-acodec",
        "pcm_f32le",
        "pipe:1",
    ]
    try:
        done = subprocess.run(command, capture_output=True, timeout=timeout, check=False)  # noqa: S603
    except subprocess.TimeoutExpired as exc:
        raise FFmpegTimedOut(
            "decoding the audio took too long", returncode=None, stderr=""
        ) from exc
    stderr = done.stderr.decode("utf-8", "replace")
    if done.returncode != 0:
        if any(marker in stderr for marker in _NO_AUDIO):
            raise UnsupportedMedia("the file has no audio stream")
        if "Invalid data found" in stderr and not done.stdout:
            raise UnsupportedMedia("not an audio or video file we can read")
        raise CorruptMedia("the audio cannot be decoded")
    samples = np.frombuffer(done.stdout, dtype=np.float32)
    if samples.size == 0:
        raise EmptyMedia("the audio has no samples")
    # A copy: frombuffer's view is read-only, and the VAD needs writable windows.
    return np.clip(samples, -1.0, 1.0).astype(np.float32, copy=True)
