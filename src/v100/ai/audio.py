"""Decoding any audio or video file to what the speech models read: 16 kHz mono float32 PCM,
through the platform's FFmpeg (``v100.media.ffmpeg_path``) with its safe input whitelists.
``decode_pcm`` writes the samples to a file on disk (``PcmFile``), which the VAD and the models
read a slice at a time: a 3-hour file is 691 MB of samples, never held whole in memory.
``load_pcm`` reads one whole, for short clips. Failures are ``v100.media`` errors, so services
map them to codes as for any media job; ``AudioTooLong`` when a limit is passed."""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from v100.media._errors import CorruptMedia, EmptyMedia, UnsupportedMedia
from v100.media._ffmpeg import ffmpeg_path, input_args

__all__ = ["SAMPLE_RATE", "AudioTooLong", "Pcm", "PcmFile", "PcmSource", "decode_pcm", "load_pcm"]

SAMPLE_RATE = 16_000
Pcm = npt.NDArray[np.float32]

# FFmpeg's words for an input that has no audio we can read, as opposed to damaged data.
_NO_AUDIO = ("does not contain any stream", "matches no streams", "Output file is empty")
# ... and for a file that is no container we read: not media at all, or a format outside the
# whitelist (a playlist, subtitles, an image sequence).
_NOT_MEDIA = ("Invalid data found", "Format not on whitelist")
_STDERR_TAIL = 64 * 1024


class AudioTooLong(Exception):
    """The audio goes on past ``max_seconds``; decoding stopped there."""

    def __init__(self, max_seconds: float) -> None:
        super().__init__(f"the audio lasts more than {max_seconds:.0f} s")
        self.max_seconds = max_seconds


@dataclass(frozen=True, slots=True)
class PcmFile:
    """Decoded audio kept on disk: raw 16 kHz mono float32 (little-endian), ``size`` samples.
    Sliced like an array (``pcm[start:stop]`` reads those samples, clipped to [-1, 1], into a
    new writable array), so the VAD and the models take either."""

    path: Path
    size: int

    @property
    def duration(self) -> float:
        return self.size / SAMPLE_RATE

    def __getitem__(self, window: slice) -> Pcm:
        start, stop, step = window.indices(self.size)
        if step != 1:
            raise ValueError("a PcmFile is read in contiguous slices")
        count = max(0, stop - start)
        samples = np.fromfile(self.path, dtype="<f4", count=count, offset=start * 4)
        return np.clip(samples, -1.0, 1.0, out=samples).astype(np.float32, copy=False)


# What the VAD and the models read: samples in memory, or decoded samples on disk.
PcmSource = Pcm | PcmFile


def decode_pcm(source: str | Path, out: str | Path, *, max_seconds: float | None = None) -> PcmFile:
    """The first audio stream of ``source`` as 16 kHz mono float32, written to ``out``.
    Blocking: call it from a worker thread. FFmpeg writes the file itself, so memory stays
    flat however long the audio. With ``max_seconds``, decoding stops a second past it and
    ``AudioTooLong`` is raised (the file's own idea of its length is not trusted). Raises
    ``EmptyMedia`` (zero bytes, or no samples), ``UnsupportedMedia`` (no container we read, or
    no audio stream) or ``CorruptMedia`` (data FFmpeg cannot decode)."""
    source, out = Path(source), Path(out)
    if not source.is_file():
        raise FileNotFoundError(source)
    if source.stat().st_size == 0:
        raise EmptyMedia("the file is empty")
    limit = [] if max_seconds is None else ["-t", f"{max_seconds + 1:.3f}"]
    command = [
        ffmpeg_path(),
        "-hide_banner",
        "-nostdin",
        "-y",
        "-loglevel",
        "error",
        # Damaged packets make FFmpeg fail instead of going on with a silent gap.
        "-xerror",
        *input_args(source),
        "-map",
        "0:a:0",
        "-vn",
        "-sn",
        "-dn",
        "-ac",
        "1",
        "-ar",
        str(SAMPLE_RATE),
        *limit,
        "-f",
        "f32le",
        "-acodec",
        "pcm_f32le",
        str(out),
    ]
    out.unlink(missing_ok=True)  # what is there after FFmpeg is what it wrote
    done = subprocess.run(command, capture_output=True, check=False)  # noqa: S603
    stderr = done.stderr[-_STDERR_TAIL:].decode("utf-8", "replace")
    size = out.stat().st_size // 4 if out.exists() else 0
    if done.returncode != 0:
        if any(marker in stderr for marker in _NO_AUDIO):
            raise UnsupportedMedia("the file has no audio stream")
        if any(marker in stderr for marker in _NOT_MEDIA) and not size:
            raise UnsupportedMedia("not an audio or video file we can read")
        raise CorruptMedia("the audio cannot be decoded")
    if size == 0:
        raise EmptyMedia("the audio has no samples")
    if max_seconds is not None and size > max_seconds * SAMPLE_RATE:
        raise AudioTooLong(max_seconds)
    return PcmFile(out, size)


def load_pcm(path: str | Path) -> Pcm:
    """The first audio stream of ``path`` as 16 kHz mono float32 in [-1, 1], whole in memory
    (64 KB a second: for clips; long files go through ``decode_pcm``). Blocking; the errors of
    ``decode_pcm``."""
    with tempfile.TemporaryDirectory(prefix="v100-pcm-") as scratch:
        pcm = decode_pcm(path, Path(scratch) / "pcm.f32")
        return pcm[:]
