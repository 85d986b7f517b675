"""Test media made by FFmpeg's lavfi sources, never committed: ``make_video`` and
``make_audio`` write short files with known properties (size, rate, rotation, silence) for tests
and benchmarks."""

from __future__ import annotations

import subprocess
from pathlib import Path

from v100.media._ffmpeg import ffmpeg_path

__all__ = ["make_audio", "make_video"]

_CODECS = {
    ".mp4": ("libx264", "aac"),
    ".mov": ("libx264", "aac"),
    ".mkv": ("libx264", "aac"),
    ".webm": ("libvpx-vp9", "libopus"),
}


def make_video(
    path: str | Path,
    *,
    seconds: float = 2.0,
    width: int = 320,
    height: int = 240,
    fps: int = 25,
    audio: bool = True,
    tone_hz: int = 440,
    rotation: int = 0,
    variable_frame_rate: bool = False,
) -> Path:
    """A ``testsrc2`` picture (plus a sine tone) in the container named by ``path``'s suffix.
    ``rotation`` stores a display matrix asking players to turn the picture clockwise."""
    path = Path(path)
    vcodec, acodec = _CODECS.get(path.suffix, ("libx264", "aac"))
    args = [
        "-f",
        "lavfi",
        "-i",
        f"testsrc2=size={width}x{height}:rate={fps}:duration={seconds}",
    ]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency={tone_hz}:duration={seconds}"]
    if variable_frame_rate:
        # Drop every third frame, keeping the others' timestamps: irregular gaps.
        args += ["-vf", "select='not(eq(mod(n\\,3)\\,2))'", "-fps_mode", "vfr"]
    args += ["-c:v", vcodec, "-pix_fmt", "yuv420p"]
    args += ["-preset", "ultrafast"] if vcodec == "libx264" else ["-deadline", "realtime"]
    if audio:
        args += ["-c:a", acodec, "-shortest"]
    _ffmpeg(*args, str(path))
    if rotation:
        rotated = path.with_name(f"{path.stem}.rotating{path.suffix}")
        # -display_rotation is counter-clockwise; ours is the clockwise turn a player applies.
        _ffmpeg(
            "-display_rotation", str(-rotation % 360), "-i", str(path), "-c", "copy", str(rotated)
        )
        rotated.replace(path)
    return path


def make_audio(
    path: str | Path,
    *,
    seconds: float = 2.0,
    tone_hz: int = 440,
    sample_rate: int = 48_000,
    volume_db: float = 0.0,
    silence_before: float = 0.0,
    silence_after: float = 0.0,
) -> Path:
    """A sine tone at ``volume_db`` with optional leading and trailing silence."""
    path = Path(path)
    tone = f"sine=frequency={tone_hz}:sample_rate={sample_rate}:duration={seconds}"
    filters = f"volume={volume_db}dB"
    if silence_before or silence_after:
        delay_ms = int(silence_before * 1000)
        filters += f",adelay={delay_ms}:all=1,apad=pad_dur={silence_after}"
    _ffmpeg("-f", "lavfi", "-i", tone, "-af", filters, str(path))
    return path


def _ffmpeg(*args: str) -> None:
    subprocess.run(  # noqa: S603 - our own binary and arguments
        [ffmpeg_path(), "-hide_banner", "-nostdin", "-y", "-loglevel", "error", *args],
        check=True,
        capture_output=True,
    )
