"""Auto-trim: ``detect_trim`` finds leading and trailing dead air in one FFmpeg pass
(``silencedetect`` on the audio, ``blackdetect`` on the picture) and returns the range worth
keeping. With both tracks, an edge is trimmed only where the audio is silent AND the picture is
black; with one track (or ``picture=False``: a clip's silences), that track decides. A range
of the file (``start``, ``end``) is judged alone."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from v100.media._encoding import run_timeout
from v100.media._ffmpeg import ProgressCallback, input_args, run_ffmpeg
from v100.media.probe import MediaInfo

__all__ = ["TrimRange", "detect_trim"]

_SILENCE = re.compile(r"silence_(start|end): *(-?[0-9.]+)")
_BLACK = re.compile(r"black_start: *(-?[0-9.]+) +black_end: *(-?[0-9.]+)")


@dataclass(frozen=True, slots=True)
class TrimRange:
    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


async def detect_trim(
    src: str | Path,
    info: MediaInfo,
    *,
    start: float = 0.0,
    end: float | None = None,
    picture: bool = True,
    silence_db: float = -50,
    min_silence: float = 0.5,
    black_threshold: float = 0.1,
    min_black: float = 0.5,
    on_progress: ProgressCallback | None = None,
    timeout: float | None = None,  # noqa: ASYNC109 - bounded FFmpeg run, FFmpegTimedOut
) -> TrimRange:
    """The range to keep. Silence is audio below ``silence_db`` dBFS for ``min_silence``
    seconds or more; black is a picture whose pixels are darker than ``black_threshold`` (0..1
    of the luma range) for ``min_black`` seconds or more; ``picture=False`` leaves the picture
    out of it. Only ``[start, end)`` is read (default: the whole file); a range that is dead
    air throughout keeps its whole length (there is nothing to keep instead)."""
    end = info.duration if end is None else min(end, info.duration)
    if start < 0 or end <= start:
        raise ValueError(f"the range {start:g}..{end:g} s is empty or outside the file")
    length = end - start
    args = ["-loglevel", "info", *input_args(src, seek=start or None)]
    if end < info.duration:
        args += ["-t", f"{length:.6f}"]
    if info.audio is not None:
        args += ["-map", "0:a:0", "-af", f"silencedetect=n={silence_db:g}dB:d={min_silence:g}"]
    if info.video is not None and picture:
        # Judged on a small copy of the picture: the same verdict, a fraction of the work.
        args += [
            "-map",
            "0:v:0",
            "-vf",
            f"scale=320:-2,blackdetect=d={min_black:g}:pix_th={black_threshold:g}",
        ]
    stderr = await run_ffmpeg(
        [*args, "-f", "null", "-"],
        duration=length,
        on_progress=on_progress,
        timeout=timeout if timeout is not None else run_timeout(length, per_second=3),
    )
    frame = 1 / info.video.frame_rate if info.video and info.video.frame_rate else 0.04
    slack = max(0.1, 2 * frame)
    edges: list[tuple[float, float]] = []
    if info.audio is not None:
        edges.append(_edges(_silences(stderr, length), length, slack))
    if info.video is not None and picture:
        blacks = [(float(a), float(b)) for a, b in _BLACK.findall(stderr)]
        edges.append(_edges(blacks, length, slack))
    if not edges:
        return TrimRange(start, end)
    # Trimmed only where every track is dead: the smallest lead and the latest tail.
    lead = min(lead for lead, _ in edges)
    tail = max(tail for _, tail in edges)
    if tail - lead <= 0:
        return TrimRange(start, end)
    return TrimRange(round(start + lead, 3), round(start + tail, 3))


def _silences(stderr: str, duration: float) -> list[tuple[float, float]]:
    spans = []
    opened: float | None = None
    for kind, value in _SILENCE.findall(stderr):
        if kind == "start":
            opened = max(0.0, float(value))
        elif opened is not None:
            spans.append((opened, float(value)))
            opened = None
    if opened is not None:  # silent to the end
        spans.append((opened, duration))
    return spans


def _edges(spans: list[tuple[float, float]], duration: float, slack: float) -> tuple[float, float]:
    """(end of the leading dead span or 0, start of the trailing dead span or the duration)."""
    lead, tail = 0.0, duration
    for start, end in spans:
        if start <= slack:
            lead = max(lead, end)
        if end >= duration - slack:
            tail = min(tail, start)
    return lead, tail
