"""What is in a media file, read with PyAV (libavformat in-process, no ffprobe binary): duration,
container, the main video and audio streams, rotation and variable frame rate. Opens files
through the same protocol and demuxer whitelists as every FFmpeg run."""

from __future__ import annotations

import asyncio
import itertools
import os
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from v100.media._errors import CorruptMedia, EmptyMedia, UnsupportedMedia
from v100.media._ffmpeg import PYAV_OPEN_OPTIONS

__all__ = ["AudioStreamInfo", "MediaInfo", "VideoStreamInfo", "probe", "probe_sync"]

# Packets sampled to judge frame-rate regularity.
_VFR_SAMPLE = 240


@dataclass(frozen=True, slots=True)
class VideoStreamInfo:
    codec: str
    width: int
    height: int
    # Degrees clockwise the picture must be turned for display (0, 90, 180, 270).
    rotation: int
    frame_rate: float
    variable_frame_rate: bool
    pixel_format: str | None
    bit_rate: int | None

    @property
    def display_width(self) -> int:
        return self.height if self.rotation in (90, 270) else self.width

    @property
    def display_height(self) -> int:
        return self.width if self.rotation in (90, 270) else self.height


@dataclass(frozen=True, slots=True)
class AudioStreamInfo:
    codec: str
    sample_rate: int
    channels: int
    bit_rate: int | None


@dataclass(frozen=True, slots=True)
class MediaInfo:
    container: str
    duration: float
    size: int
    bit_rate: int | None
    video: VideoStreamInfo | None
    audio: AudioStreamInfo | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "container": self.container,
            "duration": round(self.duration, 3),
            "size": self.size,
            "bit_rate": self.bit_rate,
            "video": None
            if self.video is None
            else {
                "codec": self.video.codec,
                "width": self.video.width,
                "height": self.video.height,
                "display_width": self.video.display_width,
                "display_height": self.video.display_height,
                "rotation": self.video.rotation,
                "frame_rate": round(self.video.frame_rate, 3),
                "variable_frame_rate": self.video.variable_frame_rate,
                "pixel_format": self.video.pixel_format,
                "bit_rate": self.video.bit_rate,
            },
            "audio": None
            if self.audio is None
            else {
                "codec": self.audio.codec,
                "sample_rate": self.audio.sample_rate,
                "channels": self.audio.channels,
                "bit_rate": self.audio.bit_rate,
            },
        }


async def probe(path: str | Path) -> MediaInfo:
    """Read ``path``'s streams in a worker thread (PyAV releases the GIL while demuxing)."""
    return await asyncio.to_thread(probe_sync, path)


def probe_sync(path: str | Path) -> MediaInfo:
    import av  # imported on first use: start-up stays fast

    size = os.path.getsize(path)
    if size == 0:
        raise EmptyMedia("the file is empty")
    try:
        container = av.open(str(path), options=PYAV_OPEN_OPTIONS)
    except av.error.InvalidDataError:
        raise UnsupportedMedia("not a readable audio or video file") from None
    except av.error.FFmpegError as error:
        raise CorruptMedia(f"could not open the file: {error.strerror}") from None
    try:
        return _read(container, size)
    except av.error.FFmpegError as error:
        raise CorruptMedia(f"could not read the file: {error.strerror}") from None
    finally:
        container.close()


def _read(container: Any, size: int) -> MediaInfo:
    video_stream = container.streams.video[0] if container.streams.video else None
    audio_stream = container.streams.audio[0] if container.streams.audio else None
    if video_stream is None and audio_stream is None:
        raise UnsupportedMedia("the file has no audio or video stream")
    video = _video(container, video_stream) if video_stream is not None else None
    audio = None
    if audio_stream is not None:
        context = audio_stream.codec_context
        audio = AudioStreamInfo(
            codec=context.name,
            sample_rate=int(context.sample_rate or 0),
            channels=int(context.channels or 0),
            bit_rate=context.bit_rate or None,
        )
    duration = _duration(container)
    if duration <= 0:
        raise CorruptMedia("the file has no playable duration")
    return MediaInfo(
        container=container.format.name,
        duration=duration,
        size=size,
        bit_rate=container.bit_rate or None,
        video=video,
        audio=audio,
    )


def _video(container: Any, stream: Any) -> VideoStreamInfo:
    context = stream.codec_context
    if not stream.width or not stream.height:
        raise CorruptMedia("the video stream has no picture size")
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    rotation, variable = _sample_video(container, stream)
    return VideoStreamInfo(
        codec=context.name,
        width=int(stream.width),
        height=int(stream.height),
        rotation=rotation,
        frame_rate=float(rate) if rate else 0.0,
        variable_frame_rate=variable,
        pixel_format=context.pix_fmt,
        bit_rate=context.bit_rate or None,
    )


def _sample_video(container: Any, stream: Any) -> tuple[int, bool]:
    """Rotation from the first decoded frame's display matrix; variable frame rate when the
    gaps between the first packets' timestamps vary by more than half a frame."""
    import av

    rotation = 0
    stamps: list[int] = []
    try:
        for packet in container.demux(stream):
            if packet.pts is not None:
                stamps.append(packet.pts)
            if rotation == 0 and packet.size:
                for frame in packet.decode():
                    rotation = round(-frame.rotation) % 360 if frame.rotation else 0
                    break
            if len(stamps) >= _VFR_SAMPLE:
                break
    except av.error.FFmpegError:
        if not stamps:
            raise
    container.seek(0)
    stamps.sort()
    gaps = [b - a for a, b in itertools.pairwise(stamps) if b > a]
    variable = False
    if len(gaps) >= 4:
        typical = statistics.median(gaps)
        variable = any(abs(gap - typical) > typical / 2 for gap in gaps)
    return _normalise_rotation(rotation), variable


def _normalise_rotation(degrees: int) -> int:
    return min((0, 90, 180, 270, 360), key=lambda r: abs(r - degrees)) % 360


def _duration(container: Any) -> float:
    if container.duration:
        return float(container.duration) / 1_000_000
    # WebM from browsers' MediaRecorder carries no duration: read the last timestamps.
    best = 0.0
    for stream in container.streams:
        if stream.duration and stream.time_base:
            best = max(best, float(stream.duration * stream.time_base))
    if best > 0:
        return best
    container.seek(0)
    for packet in container.demux():
        if packet.pts is not None and packet.time_base is not None:
            end = packet.pts + (packet.duration or 0)
            best = max(best, float(end * packet.time_base))
    return best
