"""EBU R128 loudness: ``measure_loudness`` (one analysis pass of FFmpeg's ``loudnorm``) and
``normalize_loudness`` (the two-pass method: measure, then apply the measured values with
``linear=true`` so the whole file gets one gain and dynamics are kept when the target allows)."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from v100.media._encoding import require_audio, run_timeout
from v100.media._errors import CorruptMedia, UnsupportedMedia
from v100.media._ffmpeg import Progress, ProgressCallback, input_args, run_ffmpeg
from v100.media.probe import MediaInfo, probe

__all__ = ["Loudness", "measure_loudness", "normalize_loudness"]

# Podcast/streaming loudness (AES TD1004 recommends -16 LUFS for streamed speech; Apple
# Podcasts and Spotify sit between -16 and -14), with a true-peak ceiling for lossy encoders.
DEFAULT_TARGET_I = -16.0
DEFAULT_TARGET_TP = -1.5
DEFAULT_TARGET_LRA = 11.0


@dataclass(frozen=True, slots=True)
class Loudness:
    integrated: float  # LUFS
    true_peak: float  # dBTP
    range: float  # LU
    threshold: float  # LUFS, the gating threshold of the measurement
    # Gain loudnorm still needs after its own processing to reach the target (dB).
    target_offset: float


def _loudnorm(target_i: float, target_tp: float, target_lra: float) -> str:
    return f"loudnorm=I={target_i:g}:TP={target_tp:g}:LRA={target_lra:g}"


async def measure_loudness(
    src: str | Path,
    *,
    info: MediaInfo | None = None,
    target_i: float = DEFAULT_TARGET_I,
    target_tp: float = DEFAULT_TARGET_TP,
    target_lra: float = DEFAULT_TARGET_LRA,
    on_progress: ProgressCallback | None = None,
    timeout: float | None = None,  # noqa: ASYNC109 - bounded FFmpeg run, FFmpegTimedOut
) -> Loudness:
    """Integrated loudness, true peak and loudness range of the first audio track."""
    info = info if info is not None else await probe(src)
    require_audio(info)
    stderr = await run_ffmpeg(
        [
            # loudnorm prints its JSON at the info level; a later -loglevel wins.
            "-loglevel",
            "info",
            *input_args(src),
            "-map",
            "0:a:0",
            "-vn",
            "-sn",
            "-dn",
            "-af",
            f"{_loudnorm(target_i, target_tp, target_lra)}:print_format=json",
            "-f",
            "null",
            "-",
        ],
        duration=info.duration,
        on_progress=on_progress,
        timeout=timeout if timeout is not None else run_timeout(info.duration, per_second=2),
    )
    return _parse(stderr)


def _parse(stderr: str) -> Loudness:
    start = stderr.rfind("{")
    end = stderr.find("}", start)
    if start < 0 or end < 0:
        raise CorruptMedia("the loudness of the audio could not be measured")
    values: dict[str, Any] = json.loads(stderr[start : end + 1])
    return Loudness(
        integrated=float(values["input_i"]),
        true_peak=float(values["input_tp"]),
        range=float(values["input_lra"]),
        threshold=float(values["input_thresh"]),
        target_offset=float(values["target_offset"]),
    )


_CODECS = {
    ".wav": ["-c:a", "pcm_s16le"],
    ".flac": ["-c:a", "flac"],
    ".opus": ["-c:a", "libopus", "-b:a", "128k"],
    ".ogg": ["-c:a", "libopus", "-b:a", "128k"],
    ".webm": ["-c:a", "libopus", "-b:a", "128k"],
    ".mp3": ["-c:a", "libmp3lame", "-b:a", "192k"],
}


async def normalize_loudness(
    src: str | Path,
    dst: str | Path,
    info: MediaInfo,
    *,
    target_i: float = DEFAULT_TARGET_I,
    target_tp: float = DEFAULT_TARGET_TP,
    target_lra: float = DEFAULT_TARGET_LRA,
    on_progress: ProgressCallback | None = None,
    measured: Loudness | None = None,
    timeout: float | None = None,  # noqa: ASYNC109 - bounded FFmpeg run, FFmpegTimedOut
) -> Path:
    """``src`` brought to ``target_i`` LUFS integrated, ``target_tp`` dBTP true peak and
    ``target_lra`` LU range. The first pass measures (skipped when ``measured`` is given); the
    second applies those values with ``linear=true``. The picture, if any, is copied untouched;
    the audio codec follows ``dst``'s suffix (AAC unless .wav, .flac, .opus, .ogg, .webm, .mp3),
    resampled back to 48 kHz from loudnorm's internal 192 kHz."""
    require_audio(info)
    two_passes = measured is None
    measured = measured or await measure_loudness(
        src,
        info=info,
        target_i=target_i,
        target_tp=target_tp,
        target_lra=target_lra,
        on_progress=_share(on_progress, 0.0, 50.0, final=False),
        timeout=timeout,
    )
    if not math.isfinite(measured.integrated) or not math.isfinite(measured.true_peak):
        raise UnsupportedMedia("the audio is silent: there is no loudness to normalize")
    dst = Path(dst)
    second = (
        f"{_loudnorm(target_i, target_tp, target_lra)}"
        f":measured_I={measured.integrated:.2f}:measured_TP={measured.true_peak:.2f}"
        f":measured_LRA={measured.range:.2f}:measured_thresh={measured.threshold:.2f}"
        f":offset={measured.target_offset:.2f}:linear=true:print_format=summary"
    )
    args = [*input_args(src)]
    if info.video is not None and dst.suffix.lower() not in (".wav", ".flac", ".mp3", ".m4a"):
        args += ["-map", "0:v:0", "-c:v", "copy"]
    # Back to 48 kHz by -ar (FFmpeg appends the resampler): the same samples as an explicit
    # ",aresample=48000", which FFmpeg 5.1 cannot link after loudnorm ("Cannot select channel
    # layout"; every job failed with "Error while processing the decoded data").
    args += ["-map", "0:a:0", "-af", second, "-ar", "48000"]
    args += _CODECS.get(dst.suffix.lower(), ["-c:a", "aac", "-b:a", "192k"])
    args += ["-map_metadata", "-1", "-sn", "-dn"]
    if dst.suffix.lower() in (".mp4", ".m4a", ".mov"):
        args += ["-movflags", "+faststart"]
    args.append(str(dst))
    await run_ffmpeg(
        args,
        duration=info.duration,
        on_progress=_share(on_progress, 50.0, 100.0) if two_passes else on_progress,
        timeout=timeout if timeout is not None else run_timeout(info.duration, per_second=3),
    )
    return dst


def _share(
    callback: ProgressCallback | None, low: float, high: float, *, final: bool = True
) -> ProgressCallback | None:
    """``callback`` seeing one pass as the ``low``..``high`` share of the whole job."""
    if callback is None:
        return None

    def scaled(progress: Progress) -> Awaitable[None] | None:
        percent = progress.percent
        if percent is not None:
            percent = round(low + (high - low) * percent / 100, 1)
        return callback(
            dataclasses.replace(progress, percent=percent, done=progress.done and final)
        )

    return scaled
