"""Clips cut from a video by time range: ``mode="accurate"`` re-encodes and starts and ends on
the exact frames asked for (optionally fitted to a platform spec); ``mode="fast"`` copies the
streams without re-encoding, so it must start on a keyframe: the one at or before ``start``."""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from v100.media._encoding import DEFAULT_MAX_PIXELS, check_complete, require_video, run_timeout
from v100.media._ffmpeg import PYAV_OPEN_OPTIONS, ProgressCallback, input_args, run_ffmpeg
from v100.media.mp4 import mp4_args, spec_duration
from v100.media.platforms import PlatformSpec
from v100.media.probe import MediaInfo

__all__ = ["Clip", "cut_clip", "keyframe_at_or_before"]


@dataclass(frozen=True, slots=True)
class Clip:
    path: Path
    # The range actually cut: a fast cut starts at the keyframe at or before the asked start.
    start: float
    end: float
    mode: Literal["accurate", "fast"]

    @property
    def duration(self) -> float:
        return self.end - self.start


async def cut_clip(
    src: str | Path,
    dst: str | Path,
    info: MediaInfo,
    *,
    start: float,
    end: float,
    mode: Literal["accurate", "fast"],
    spec: PlatformSpec | None = None,
    fit: str = "crop",
    on_progress: ProgressCallback | None = None,
    preset: str = "veryfast",
    max_pixels: int = DEFAULT_MAX_PIXELS,
    timeout: float | None = None,  # noqa: ASYNC109 - bounded FFmpeg run, FFmpegTimedOut
) -> Clip:
    """Cut ``[start, end)`` seconds (``end`` clamped to the duration). Accurate cuts are
    encoded like ``encode_mp4`` (so ``spec`` crops or pads to the platform's frame, caps the
    bitrate and the duration); fast cuts keep the source's codecs and cannot take a spec."""
    end = min(end, info.duration)
    if start < 0 or end <= start:
        raise ValueError(f"the range {start:g}..{end:g} s is empty or outside the video")
    if info.video is not None:
        require_video(info, max_pixels=max_pixels)
    dst = Path(dst)
    if mode == "fast":
        if spec is not None:
            raise ValueError("a platform spec needs mode='accurate' (fast cuts copy the streams)")
        return await _fast(src, dst, info, start, end, on_progress, timeout)
    if spec is not None:
        end = min(end, start + spec_duration(spec))
    length = end - start
    args = mp4_args(
        src,
        dst,
        info,
        spec=spec,
        fit=fit,
        preset=preset,
        max_pixels=max_pixels,
        start=start,
        duration=length,
    )
    await run_ffmpeg(
        args,
        duration=length,
        on_progress=on_progress,
        # Seeking decodes from the keyframe before start: count that in.
        timeout=timeout if timeout is not None else run_timeout(length + min(start, 60)),
    )
    await check_complete(dst, expected=length, what="the clip")
    return Clip(path=dst, start=start, end=end, mode="accurate")


async def _fast(
    src: str | Path,
    dst: Path,
    info: MediaInfo,
    start: float,
    end: float,
    on_progress: ProgressCallback | None,
    timeout: float | None,  # noqa: ASYNC109 - bounded FFmpeg run, FFmpegTimedOut
) -> Clip:
    keyframe = await asyncio.to_thread(keyframe_at_or_before, src, start) if info.video else start
    # Rounded up to the microsecond so the seek cannot fall back to the keyframe before.
    keyframe = math.ceil(keyframe * 1_000_000) / 1_000_000
    length = end - keyframe
    args = [*input_args(src, seek=keyframe), "-map", "0:v:0?", "-map", "0:a:0?", "-c", "copy"]
    args += ["-t", f"{length:.6f}", "-avoid_negative_ts", "make_zero"]
    args += ["-map_metadata", "-1", "-map_chapters", "-1"]
    if dst.suffix.lower() in (".mp4", ".m4a", ".mov"):
        args += ["-movflags", "+faststart"]
    args.append(str(dst))
    await run_ffmpeg(
        args,
        duration=length,
        on_progress=on_progress,
        timeout=timeout if timeout is not None else run_timeout(length, per_second=1),
    )
    await check_complete(dst, expected=length, what="the clip")
    return Clip(path=dst, start=keyframe, end=end, mode="fast")


def keyframe_at_or_before(src: str | Path, at: float) -> float:
    """Time of the last video keyframe at or before ``at`` seconds from the file's start (as
    FFmpeg's ``-ss`` counts), 0.0 when there is none. Seeks first, so a late ``at`` in a long
    file reads a few packets, not the whole file."""
    import av

    container: Any = av.open(str(src), options=PYAV_OPEN_OPTIONS)
    try:
        stream = container.streams.video[0]
        origin = (container.start_time or 0) / 1_000_000
        for seek_to in (at, 0.0):
            container.seek(round((seek_to + origin) * 1_000_000), backward=True)
            best: float | None = None
            for packet in container.demux(stream):
                if packet.pts is None or packet.dts is None:
                    continue
                when = float(packet.pts * stream.time_base) - origin
                if packet.is_keyframe and when <= at + 1e-6:
                    best = when if best is None else max(best, when)
                # Decode order runs ahead of presentation by a few frames at most.
                if float(packet.dts * stream.time_base) - origin > at + 1:
                    break
            if best is not None:
                return max(0.0, best)
        return 0.0
    finally:
        container.close()
