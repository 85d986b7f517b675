"""Downloadable files: ``encode_mp4`` (H.264/AAC, constant frame rate, upright picture,
``+faststart``; also browser WebM recordings to MP4) and ``extract_audio`` (AAC in M4A)."""

from __future__ import annotations

from pathlib import Path

from v100.media._encoding import (
    DEFAULT_MAX_PIXELS,
    audio_args,
    check_complete,
    frame_rate,
    keyframe_interval,
    picture_filters,
    require_audio,
    require_video,
    run_timeout,
)
from v100.media._ffmpeg import ProgressCallback, input_args, run_ffmpeg
from v100.media.platforms import PlatformSpec
from v100.media.probe import MediaInfo

__all__ = ["encode_mp4", "extract_audio", "mp4_args", "spec_duration"]

_COMMON_OUTPUT = ["-map_metadata", "-1", "-map_chapters", "-1", "-sn", "-dn"]


def spec_duration(spec: PlatformSpec) -> float:
    """The longest output we cut for ``spec``: a tenth of a second under its maximum, as the
    audio track may end up to one AAC frame (21 ms) after the picture."""
    return spec.max_duration - 0.1


def mp4_args(
    src: str | Path,
    dst: str | Path,
    info: MediaInfo,
    *,
    max_height: int | None = None,
    spec: PlatformSpec | None = None,
    fit: str = "crop",
    preset: str = "veryfast",
    crf: int = 21,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    start: float | None = None,
    duration: float | None = None,
    overlay: str | None = None,
) -> list[str]:
    """The FFmpeg arguments ``encode_mp4`` runs (after the runner's own flags). ``start`` and
    ``duration`` cut a range, decoding from the keyframe before ``start`` and dropping frames
    up to it, so the cut is frame-exact. ``overlay`` is a filter drawn on the finished picture
    (burnt-in captions)."""
    args = input_args(src, seek=start)
    if info.video is not None:
        video = require_video(info, max_pixels=max_pixels)
        rate = frame_rate(video, limit=spec.frame_rate_limit if spec else 60)
        chain, _ = picture_filters(
            video,
            rate=rate,
            max_height=max_height,
            frame=(spec.width, spec.height) if spec else None,
            fit=fit,
            min_side=spec.min_side if spec else None,
        )
        if overlay is not None:
            chain = f"{chain},{overlay}"
        args += ["-map", "0:v:0", "-vf", chain]
        args += ["-c:v", "libx264", "-preset", preset, "-crf", str(crf), "-profile:v", "high"]
        args += ["-pix_fmt", "yuv420p", "-fps_mode", "cfr"]
        if spec is not None:
            args += ["-maxrate", str(spec.video_bitrate), "-bufsize", str(2 * spec.video_bitrate)]
            # Closed GOPs of two seconds, which Instagram and YouTube ask for.
            args += ["-g", str(keyframe_interval(rate, 2.0)), "-flags", "+cgop"]
    if info.audio is not None:
        bitrate = spec.audio_bitrate if spec else 128_000
        args += ["-map", "0:a:0", *audio_args(info, bitrate=bitrate)]
    if duration is not None:
        args += ["-t", f"{duration:.6f}"]
    return [*args, *_COMMON_OUTPUT, "-movflags", "+faststart", "-f", "mp4", str(dst)]


async def encode_mp4(
    src: str | Path,
    dst: str | Path,
    info: MediaInfo,
    *,
    max_height: int | None = None,
    on_progress: ProgressCallback | None = None,
    spec: PlatformSpec | None = None,
    fit: str = "crop",
    preset: str = "veryfast",
    crf: int = 21,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    timeout: float | None = None,  # noqa: ASYNC109 - bounded FFmpeg run, FFmpegTimedOut
) -> Path:
    """An MP4 anyone can play: H.264 High 4:2:0 at a constant frame rate (variable sources are
    resampled), the picture turned upright (FFmpeg applies the rotation), even sizes no taller
    than ``max_height``, AAC stereo, index first (``+faststart``), no source metadata (phones
    write GPS positions into it). An audio-only source gives an audio-only MP4. With ``spec``
    the picture is cropped (``fit="crop"``) or letterboxed (``fit="pad"``) to the platform's
    frame, the bitrate capped and the duration cut to the platform's maximum."""
    dst = Path(dst)
    expected = info.duration
    if spec is not None:
        expected = min(expected, spec_duration(spec))
    args = mp4_args(
        src,
        dst,
        info,
        max_height=max_height,
        spec=spec,
        fit=fit,
        preset=preset,
        crf=crf,
        max_pixels=max_pixels,
        duration=expected if expected < info.duration else None,
    )
    await run_ffmpeg(
        args,
        duration=expected,
        on_progress=on_progress,
        timeout=timeout if timeout is not None else run_timeout(expected),
    )
    await check_complete(dst, expected=expected)
    return dst


async def extract_audio(
    src: str | Path,
    dst_m4a: str | Path,
    info: MediaInfo,
    *,
    on_progress: ProgressCallback | None = None,
    bitrate: int = 128_000,
    timeout: float | None = None,  # noqa: ASYNC109 - bounded FFmpeg run, FFmpegTimedOut
) -> Path:
    """The first audio track as AAC in an M4A (copied when it already is AAC, else encoded)."""
    require_audio(info)
    assert info.audio is not None
    dst = Path(dst_m4a)
    args = [*input_args(src), "-map", "0:a:0", "-vn"]
    if info.audio.codec == "aac":
        args += ["-c:a", "copy"]
    else:
        args += audio_args(info, bitrate=bitrate)
    args += [*_COMMON_OUTPUT, "-movflags", "+faststart", "-f", "ipod", str(dst)]
    await run_ffmpeg(
        args,
        duration=info.duration,
        on_progress=on_progress,
        timeout=timeout if timeout is not None else run_timeout(info.duration, per_second=2),
    )
    await check_complete(dst, expected=info.duration)
    return dst
