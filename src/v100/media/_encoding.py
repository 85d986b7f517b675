"""What every encoding operation shares: the guard against pictures too large to decode, the
output frame rate (variable sources become constant), sizes that H.264 accepts (even, never
upscaled), run timeouts scaled from the duration, and the check that an output is complete."""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

from v100.media._errors import CorruptMedia, MediaTooLarge, UnsupportedMedia
from v100.media.probe import MediaInfo, VideoStreamInfo, probe

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "MAX_FRAME_RATE",
    "audio_args",
    "check_complete",
    "even",
    "fit_within",
    "frame_rate",
    "keyframe_interval",
    "picture_filters",
    "rate_value",
    "require_audio",
    "require_video",
    "run_timeout",
]

# 8K UHD. A larger declared picture is refused before any decoder allocates frames for it.
MAX_WIDTH, MAX_HEIGHT = 7680, 4320
DEFAULT_MAX_PIXELS = MAX_WIDTH * MAX_HEIGHT
MAX_FRAME_RATE = 60
# Rates a variable-frame-rate source is rounded up to (phones and browsers record VFR).
_STANDARD_RATES = (15, 24, 25, 30, 50, 60)
_NTSC = {23.976: "24000/1001", 29.97: "30000/1001", 59.94: "60000/1001"}


def check_picture(
    info: MediaInfo, *, max_width: int = MAX_WIDTH, max_height: int = MAX_HEIGHT
) -> None:
    """Refuse (``MediaTooLarge``) a picture wider or taller, as displayed, than the limits: the
    pixel count alone lets a strip such as 7800x64 through."""
    if info.video is None:
        return
    width, height = info.video.display_width, info.video.display_height
    if width > max_width or height > max_height:
        raise MediaTooLarge(
            f"the picture is {width}x{height}; at most {max_width}x{max_height} is accepted"
        )


def require_video(info: MediaInfo, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> VideoStreamInfo:
    """The video stream, refused when missing or larger than ``max_pixels``."""
    if info.video is None:
        raise UnsupportedMedia("the file has no video stream")
    pixels = info.video.width * info.video.height
    if pixels > max_pixels:
        raise MediaTooLarge(
            f"the picture is {info.video.width}x{info.video.height}; "
            f"at most {max_pixels:,} pixels are accepted"
        )
    return info.video


def require_audio(info: MediaInfo) -> None:
    if info.audio is None:
        raise UnsupportedMedia("the file has no audio stream")


def even(value: float) -> int:
    """The nearest even integer, at least 2 (H.264 with 4:2:0 chroma needs even sizes)."""
    return max(2, 2 * round(value / 2))


def fit_within(
    width: int, height: int, *, max_width: int | None = None, max_height: int | None = None
) -> tuple[int, int]:
    """``width`` x ``height`` scaled down (never up) to fit the bounds, aspect kept, even."""
    scale = 1.0
    if max_width is not None and width > max_width:
        scale = min(scale, max_width / width)
    if max_height is not None and height > max_height:
        scale = min(scale, max_height / height)
    w, h = even(width * scale), even(height * scale)
    # Rounding to even must not step over a bound.
    if max_width is not None and w > max_width:
        w -= 2
    if max_height is not None and h > max_height:
        h -= 2
    return w, h


def frame_rate(video: VideoStreamInfo, *, limit: float = MAX_FRAME_RATE) -> str:
    """The constant output rate as an FFmpeg rational: the source's own rate, or for a variable
    source the next standard rate at or above its average, never above ``limit``."""
    rate = video.frame_rate if video.frame_rate > 0 else 30.0
    if video.variable_frame_rate:
        rate = next((r for r in _STANDARD_RATES if r >= rate - 0.01), _STANDARD_RATES[-1])
    rate = min(rate, limit)
    for ntsc, rational in _NTSC.items():
        if abs(rate - ntsc) < 0.005:
            return rational
    if abs(rate - round(rate)) < 0.01:
        return str(round(rate))
    fraction = Fraction(rate).limit_denominator(1001)
    return f"{fraction.numerator}/{fraction.denominator}"


def rate_value(rate: str) -> float:
    return float(Fraction(rate))


def run_timeout(duration: float, *, per_second: float = 20.0, floor: float = 120.0) -> float:
    """Seconds an FFmpeg run may take: generous for slow shared cores, but bounded, so a
    stuck decoder ends as ``FFmpegTimedOut`` instead of a job that never finishes."""
    return floor + per_second * max(duration, 0.0)


async def check_complete(path: Path, *, expected: float, what: str = "the output") -> MediaInfo:
    """Probe an output and refuse it when it is much shorter than expected: FFmpeg exits 0 on a
    source whose data ends before its index says (a truncated upload)."""
    info = await probe(path)
    if info.duration < expected * 0.9 - 0.5:
        raise CorruptMedia(
            f"the file ends early: {what} is {info.duration:.1f} s of the "
            f"{expected:.1f} s the source declares (truncated upload?)"
        )
    return info


def keyframe_interval(rate: str, seconds: float) -> int:
    """Frames between keyframes for a GOP of ``seconds`` at ``rate``."""
    return max(1, math.ceil(rate_value(rate) * seconds))


def picture_filters(
    video: VideoStreamInfo,
    *,
    rate: str,
    max_width: int | None = None,
    max_height: int | None = None,
    frame: tuple[int, int] | None = None,
    fit: str = "crop",
    min_side: int | None = None,
) -> tuple[str, tuple[int, int]]:
    """The ``-vf`` chain for a display-oriented picture (FFmpeg autorotates before it) and the
    output size. Without ``frame`` the picture keeps its aspect, shrunk to the bounds; with a
    ``frame`` (width, height) it is centre-cropped (``fit="crop"``) or letterboxed
    (``fit="pad"``) to that aspect, never upscaled. Sizes are written as expressions or fixed
    boxes, so a stream that changes resolution midway (browser recordings) still encodes."""
    filters = [f"fps={rate}"]
    if frame is None:
        w, h = fit_within(
            video.display_width, video.display_height, max_width=max_width, max_height=max_height
        )
        filters.append(
            f"scale={w}:{h}:force_original_aspect_ratio=decrease:force_divisible_by=2,"
            f"pad={w}:{h}:(ow-iw)/2:(oh-ih)/2"
        )
    elif fit == "crop":
        aspect = frame[0] / frame[1]
        crop_w = min(video.display_width, video.display_height * aspect)
        crop_h = min(video.display_height, video.display_width / aspect)
        w, h = fit_within(round(crop_w), round(crop_h), max_width=frame[0], max_height=frame[1])
        if min_side is not None and min(w, h) < min_side:
            grow = min_side / min(w, h)
            w, h = 2 * math.ceil(w * grow / 2), 2 * math.ceil(h * grow / 2)
        filters.append(f"crop='min(iw,ih*{aspect:.6f})':'min(ih,iw/{aspect:.6f})',scale={w}:{h}")
    elif fit == "pad":
        w, h = frame
        filters.append(
            f"scale={w}:{h}:force_original_aspect_ratio=decrease:force_divisible_by=2,"
            f"pad={w}:{h}:(ow-iw)/2:(oh-ih)/2"
        )
    else:
        raise ValueError(f"fit must be 'crop' or 'pad', not {fit!r}")
    filters += ["setsar=1", "format=yuv420p"]
    return ",".join(filters), (w, h)


def audio_args(info: MediaInfo, *, bitrate: int = 128_000) -> list[str]:
    """AAC-LC, stereo at most, 44.1 or 48 kHz; gaps in a recording's audio filled so it stays
    in sync with the picture."""
    assert info.audio is not None
    args = ["-c:a", "aac", "-b:a", str(bitrate), "-af", "aresample=async=1:first_pts=0"]
    if info.audio.channels > 2 or info.audio.channels == 0:
        args += ["-ac", "2"]
    if info.audio.sample_rate not in (44_100, 48_000):
        args += ["-ar", "48000"]
    return args
