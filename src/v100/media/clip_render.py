"""A ready-to-post clip: a time range of a source video rendered as an MP4 (H.264/AAC) of a
target aspect for a platform, its picture following a smart-crop plan (``smart_crop``), with
captions burnt in from the transcript's words in the range (``burn_in``'s subtitles filter)
and the range auto-trimmed of its leading and trailing silence.

The output frame is the platform's short side wide (``clip_frame``: 1080x1920 for 9:16 on
TikTok, Reels and Shorts), at most 30 frames a second, within the platform's bitrate and
duration (``PLATFORM_SPECS``), in one FFmpeg run (``_crop_graph``; ADR 0050)."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from v100.contracts.transcripts import TranscriptDocument
from v100.media._crop_graph import crop_graph
from v100.media._encoding import (
    DEFAULT_MAX_PIXELS,
    audio_args,
    check_complete,
    even,
    frame_rate,
    keyframe_interval,
    rate_value,
    require_video,
    run_timeout,
)
from v100.media._ffmpeg import ProgressCallback, input_args, run_ffmpeg
from v100.media.burn_in import CaptionStyle, subtitles_filter
from v100.media.captions import CaptionLimits, build_cues, clip_document, render_srt
from v100.media.mp4 import spec_duration
from v100.media.platforms import PlatformSpec
from v100.media.probe import MediaInfo
from v100.media.smart_crop import CropPath, Layout
from v100.media.trim import detect_trim

__all__ = [
    "CLIP_CAPTION_LIMITS",
    "CLIP_FRAME_RATE",
    "RenderedClip",
    "clip_caption_style",
    "clip_frame",
    "render_clip",
]

# Short-form video plays at 30 frames a second; a faster source is halved, a slower one kept
# (raised to 30 where the platform refuses it, e.g. 15 fps on TikTok).
CLIP_FRAME_RATE = 30
# Short lines for a narrow frame: two lines of at most 26 characters, at most 4 s on screen.
CLIP_CAPTION_LIMITS = CaptionLimits(max_chars_per_line=26, max_lines=2, max_duration=4.0)
# Speech kept around the transcript's first and last words when trimming by them.
_LEAD, _TAIL = 0.15, 0.35


def clip_frame(spec: PlatformSpec, aspect: tuple[int, int]) -> tuple[int, int]:
    """The output size: as wide as the platform's frame is on its short side, as tall as the
    aspect asks (TikTok: 1080x1920 for 9:16, 1080x1080 for 1:1, 1080x1350 for 4:5)."""
    width = min(spec.width, spec.height)
    return width, even(width * aspect[1] / aspect[0])


def clip_caption_style(frame: tuple[int, int]) -> CaptionStyle:
    """Bold captions a sixteenth of the frame's width tall, above the bottom fifth of the
    frame, where the platforms' own buttons and titles sit."""
    width, height = frame
    return CaptionStyle(font_size=width / 16, outline=width / 360, margin=0.2 * height, bold=True)


@dataclass(frozen=True, slots=True)
class RenderedClip:
    path: Path
    # The source range rendered (after auto-trim and the platform's longest duration).
    start: float
    end: float
    width: int
    height: int
    frame_rate: float
    captions: int  # cues burnt in
    layouts: tuple[Layout, ...]  # of the shots shown, in order

    @property
    def duration(self) -> float:
        return self.end - self.start


async def render_clip(
    src: str | Path,
    dst: str | Path,
    info: MediaInfo,
    *,
    start: float,
    end: float,
    crop: CropPath,
    spec: PlatformSpec,
    transcript: TranscriptDocument | None = None,
    caption_style: CaptionStyle | None = None,
    caption_limits: CaptionLimits | None = None,
    trim: bool = True,
    silence_db: float = -50,
    background: Literal["blur", "black"] = "blur",
    preset: str = "veryfast",
    on_progress: ProgressCallback | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    timeout: float | None = None,  # noqa: ASYNC109 - bounded FFmpeg run, FFmpegTimedOut
) -> RenderedClip:
    """Render ``[start, end)`` seconds of ``src`` (``crop`` must cover it). With ``trim`` the
    range loses its leading and trailing silence: cut to the transcript's words in it (with
    a little air either side) when ``transcript`` has some, else where FFmpeg's
    ``silencedetect`` hears less than ``silence_db`` dBFS. With ``transcript`` its words in the
    range are burnt in. ``UnsupportedMedia`` without a video stream."""
    video = require_video(info, max_pixels=max_pixels)
    dst = Path(dst)
    end = min(end, info.duration)
    if start < 0 or end <= start:
        raise ValueError(f"the range {start:g}..{end:g} s is empty or outside the video")
    if trim:
        start, end = await _trimmed(src, info, start, end, transcript, silence_db)
    end = min(end, start + spec_duration(spec))
    length = end - start
    rate = frame_rate(video, limit=CLIP_FRAME_RATE)
    if spec.min_frame_rate is not None and rate_value(rate) < spec.min_frame_rate:
        rate = str(CLIP_FRAME_RATE)
    frame = clip_frame(spec, crop.aspect)
    with tempfile.TemporaryDirectory(prefix="v100-clip-") as scratch:
        overlay, cues = None, 0
        if transcript is not None:
            found = build_cues(
                clip_document(transcript, start, end), caption_limits or CLIP_CAPTION_LIMITS
            )
            if found:
                subtitles = Path(scratch) / "captions.srt"
                subtitles.write_text(render_srt(found), encoding="utf-8")
                style = caption_style or clip_caption_style(frame)
                overlay, cues = subtitles_filter(subtitles, style, frame[1]), len(found)
        graph = crop_graph(
            crop,
            start=start,
            end=end,
            rate=rate,
            frame=frame,
            background=background,
            overlay=overlay,
        )
        args = [*input_args(src, seek=start), "-filter_complex", graph, "-map", "[v]"]
        args += ["-c:v", "libx264", "-preset", preset, "-crf", "21", "-profile:v", "high"]
        args += ["-pix_fmt", "yuv420p", "-fps_mode", "cfr"]
        args += ["-maxrate", str(spec.video_bitrate), "-bufsize", str(2 * spec.video_bitrate)]
        args += ["-g", str(keyframe_interval(rate, 2.0)), "-flags", "+cgop"]
        if info.audio is not None:
            args += ["-map", "0:a:0", *audio_args(info, bitrate=spec.audio_bitrate)]
        args += ["-t", f"{length:.6f}", "-map_metadata", "-1", "-map_chapters", "-1"]
        args += ["-movflags", "+faststart", "-f", "mp4", str(dst)]
        await run_ffmpeg(
            args,
            duration=length,
            on_progress=on_progress,
            timeout=timeout if timeout is not None else run_timeout(length + min(start, 60)),
        )
    await check_complete(dst, expected=length, what="the clip")
    layouts = tuple(s.layout for s in crop.shots if s.end > start and s.start < end)
    return RenderedClip(dst, start, end, *frame, rate_value(rate), cues, layouts)


async def _trimmed(
    src: str | Path,
    info: MediaInfo,
    start: float,
    end: float,
    transcript: TranscriptDocument | None,
    silence_db: float,
) -> tuple[float, float]:
    """The range without its leading and trailing silence."""
    if transcript is not None:
        words = [
            w for w in transcript.words() if start <= (w.start + w.end) / 2 < end and w.word.strip()
        ]
        if words:
            first = max(start, min(w.start for w in words) - _LEAD)
            last = min(end, max(w.end for w in words) + _TAIL)
            if last > first:
                return first, last
    if info.audio is None:
        return start, end
    kept = await detect_trim(src, info, start=start, end=end, picture=False, silence_db=silence_db)
    return kept.start, kept.end
