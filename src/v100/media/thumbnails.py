"""Pictures of a video: ``poster`` (one JPEG at a chosen moment, seeking frame-accurately) and
``storyboard`` (sprite sheets of evenly spaced tiles with a WebVTT index players use for
scrubbing previews)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from v100.media._encoding import DEFAULT_MAX_PIXELS, even, require_video, run_timeout
from v100.media._errors import CorruptMedia, FFmpegFailed, FFmpegTimedOut
from v100.media._ffmpeg import ProgressCallback, input_args, run_ffmpeg
from v100.media.probe import MediaInfo

__all__ = ["Storyboard", "poster", "poster_time", "storyboard", "storyboard_interval"]

# Intervals a storyboard steps by, so cue times stay round numbers.
_INTERVALS = (1.0, 2.0, 3.0, 5.0, 10.0, 15.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0)


def poster_time(info: MediaInfo, at: float) -> float:
    """``at`` clamped into the video; a video shorter than ``at`` takes its middle frame."""
    if info.duration <= at:
        return info.duration / 2
    frame = 1 / info.video.frame_rate if info.video and info.video.frame_rate else 0.04
    return max(0.0, min(at, info.duration - 2 * frame))


async def poster(
    src: str | Path,
    dst_jpg: str | Path,
    info: MediaInfo,
    *,
    at: float = 5.0,
    width: int | None = None,
    quality: int = 3,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> Path:
    """A JPEG of the frame shown at ``at`` seconds (see ``poster_time``), upright, ``width``
    wide at most (aspect kept). FFmpeg seeks to the keyframe before and decodes up to the exact
    frame."""
    video = require_video(info, max_pixels=max_pixels)
    dst = Path(dst_jpg)
    _remove(dst)
    chain = "setsar=1"
    if width is not None and width < video.display_width:
        chain = f"scale={even(width)}:-2,setsar=1"
    moment = poster_time(info, at)
    failed: FFmpegFailed | None = None
    for seek in (moment, info.duration / 2, 0.0):
        try:
            await _poster_at(src, dst, chain, quality, seek)
        except FFmpegTimedOut:
            raise
        except FFmpegFailed as error:
            # FFmpeg 7 fails, rather than writing nothing, when the seek lands past the last
            # picture: a browser recording whose video track ends before its audio.
            failed = error
            continue
        if _written(dst):
            return dst
    raise CorruptMedia("no picture could be decoded from the video") from failed


async def _poster_at(src: str | Path, dst: Path, chain: str, quality: int, seek: float) -> None:
    await run_ffmpeg(
        [
            *input_args(src, seek=seek),
            "-map",
            "0:v:0",
            "-an",
            "-vf",
            chain,
            "-frames:v",
            "1",
            "-q:v",
            str(quality),
            "-f",
            "image2",
            "-update",
            "1",
            str(dst),
        ],
        timeout=run_timeout(seek, per_second=2, floor=60),
    )


@dataclass(frozen=True, slots=True)
class Storyboard:
    vtt: Path
    sprites: list[Path]
    interval: float
    tiles: int
    columns: int
    tile_width: int
    tile_height: int


def storyboard_interval(duration: float, *, max_tiles: int = 100) -> float:
    """The smallest round interval that covers ``duration`` in at most ``max_tiles`` tiles."""
    for interval in _INTERVALS:
        if math.ceil(duration / interval) <= max_tiles:
            return interval
    return float(math.ceil(duration / max_tiles))


async def storyboard(
    src: str | Path,
    out_dir: str | Path,
    info: MediaInfo,
    *,
    interval: float | None = None,
    columns: int = 10,
    tile_width: int = 160,
    max_tiles: int = 100,
    quality: int = 5,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    on_progress: ProgressCallback | None = None,
) -> Storyboard:
    """Tiles every ``interval`` seconds (chosen from the duration when omitted, so one sheet
    holds the whole video in at most ``max_tiles`` tiles) laid out ``columns`` wide on sheets of
    at most ``max_tiles`` tiles (``sprite.jpg``, or ``sprite-0.jpg``, ``sprite-1.jpg``, ...),
    and ``storyboard.vtt`` whose cues cover the whole duration with ``#xywh=`` fragments."""
    video = require_video(info, max_pixels=max_pixels)
    out = _directory(out_dir)
    step = interval if interval is not None else storyboard_interval(info.duration)
    if step <= 0:
        raise ValueError("interval must be positive")
    tiles = max(1, math.ceil(info.duration / step - 1e-6))
    tile_height = even(tile_width * video.display_height / video.display_width)
    per_sheet = min(tiles, max_tiles)
    rows = math.ceil(per_sheet / columns)
    cols = min(columns, per_sheet)
    pattern = out / "sprite-%d.jpg"
    chain = (
        # The first frame at or after each step (the fps filter drops the last partial step).
        f"select='gte(t-start_t\\,selected_n*{step:g})',trim=end_frame={tiles},"
        f"scale={tile_width}:{tile_height},setsar=1,tile={cols}x{rows}"
    )
    await run_ffmpeg(
        [
            *input_args(src),
            "-map",
            "0:v:0",
            "-an",
            "-vf",
            chain,
            "-fps_mode",
            "passthrough",
            "-q:v",
            str(quality),
            "-start_number",
            "0",
            "-f",
            "image2",
            str(pattern),
        ],
        duration=info.duration,
        on_progress=on_progress,
        timeout=run_timeout(info.duration, per_second=5),
    )
    sheets = math.ceil(tiles / per_sheet)
    sprites = [out / f"sprite-{n}.jpg" for n in range(sheets)]
    missing = [s.name for s in sprites if not _written(s)]
    if missing:
        raise CorruptMedia(f"the storyboard could not be drawn ({', '.join(missing)} missing)")
    if sheets == 1:
        sprites = [sprites[0].replace(out / "sprite.jpg")]
    lines = ["WEBVTT", ""]
    for index in range(tiles):
        sheet, cell = divmod(index, per_sheet)
        row, col = divmod(cell, cols)
        start, end = index * step, min((index + 1) * step, info.duration)
        lines += [
            f"{_timestamp(start)} --> {_timestamp(end)}",
            f"{sprites[sheet].name}#xywh={col * tile_width},{row * tile_height},"
            f"{tile_width},{tile_height}",
            "",
        ]
    vtt = out / "storyboard.vtt"
    _write_text(vtt, "\n".join(lines))
    return Storyboard(
        vtt=vtt,
        sprites=sprites,
        interval=step,
        tiles=tiles,
        columns=cols,
        tile_width=tile_width,
        tile_height=tile_height,
    )


def _timestamp(seconds: float) -> str:
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"


# Small file-system steps, kept synchronous: each is one metadata call or a small write.
def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)


def _written(path: Path) -> bool:
    return path.exists() and path.stat().st_size > 0


def _directory(path: str | Path) -> Path:
    directory = Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def _write_text(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
