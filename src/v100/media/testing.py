"""Test media made by FFmpeg's lavfi sources, never committed: ``make_video`` and
``make_audio`` write short files with known properties (size, rate, rotation, silence, black,
GOP) for tests and benchmarks, and ``make_broken`` the damaged files users upload. They run the
binary the platform runs (``ffmpeg_path()``: ``V100_FFMPEG`` or the bundled one)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from v100.media._ffmpeg import ffmpeg_path
from v100.media._requirements import inspect_ffmpeg

__all__ = ["BROKEN_KINDS", "make_audio", "make_broken", "make_video", "webm_clusters"]

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
    black_before: float = 0.0,
    black_after: float = 0.0,
    silence_before: float = 0.0,
    silence_after: float = 0.0,
    keyframe_interval: int | None = None,
    picture: str = "testsrc2",
    live: bool = False,
    picture_until: float | None = None,
) -> Path:
    """A ``testsrc2`` picture (plus a sine tone) in the container named by ``path``'s suffix.
    ``rotation`` stores a display matrix asking players to turn the picture clockwise.
    ``black_*`` and ``silence_*`` blank the first or last seconds of the ``seconds`` (picture
    black, tone muted: digital silence) for auto-trim tests; ``keyframe_interval`` fixes the GOP
    in frames (x264's default is 250). ``picture`` names another lavfi source (``color=black``
    makes an all-black picture). ``live`` writes a WebM as a browser's MediaRecorder does: no
    duration or cues in its header, a cluster at each keyframe. ``picture_until`` ends the picture
    there while the sound goes on to ``seconds`` (a recording whose video track stopped early)."""
    path = Path(path)
    vcodec, acodec = _CODECS.get(path.suffix, ("libx264", "aac"))
    picture_seconds = seconds if picture_until is None else picture_until
    options = f"size={width}x{height}:rate={fps}:duration={picture_seconds}"
    separator = ":" if "=" in picture else "="
    args = ["-f", "lavfi", "-i", f"{picture}{separator}{options}"]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency={tone_hz}:duration={seconds}"]
    video_filters = []
    if black_before or black_after:
        until = seconds - black_after if black_after else seconds + 1
        video_filters.append(
            f"drawbox=color=black:t=fill:enable='lt(t\\,{black_before})+gte(t\\,{until})'"
        )
    if variable_frame_rate:
        # Drop every third frame, keeping the others' timestamps: irregular gaps.
        video_filters.append("select='not(eq(mod(n\\,3)\\,2))'")
        args += ["-fps_mode", "vfr"]
    if video_filters:
        args += ["-vf", ",".join(video_filters)]
    if audio and (silence_before or silence_after):
        until = seconds - silence_after if silence_after else seconds + 1
        args += ["-af", f"volume=0:enable='lt(t\\,{silence_before})+gte(t\\,{until})'"]
    args += ["-c:v", vcodec, "-pix_fmt", "yuv420p"]
    args += ["-preset", "ultrafast"] if vcodec == "libx264" else ["-deadline", "realtime"]
    if keyframe_interval is not None:
        args += ["-g", str(keyframe_interval), "-keyint_min", str(keyframe_interval)]
        if vcodec == "libx264":
            args += ["-sc_threshold", "0"]
    if audio:
        args += ["-c:a", acodec] + (["-shortest"] if picture_until is None else [])
    if live:
        args += ["-live", "1"]
    _ffmpeg(*args, str(path))
    if rotation:
        _rotate(path, rotation)
    return path


# A Matroska Cluster element's id.
CLUSTER_ID = b"\x1f\x43\xb6\x75"


def webm_clusters(webm: bytes) -> list[tuple[int, float]]:
    """Where each Matroska Cluster starts in ``webm`` and its timestamp in seconds: the
    boundaries a browser's MediaRecorder chunks fall on (each chunk is whole clusters). Found
    by the cluster id and its Timestamp element (0xE7, milliseconds at the default scale)."""
    found: list[tuple[int, float]] = []
    at = webm.find(CLUSTER_ID)
    while at != -1:
        size_at = at + len(CLUSTER_ID)
        size_length = 9 - webm[size_at].bit_length()  # an EBML vint's length marker
        timestamp_at = size_at + size_length
        if webm[timestamp_at] == 0xE7:
            length = webm[timestamp_at + 1] & 0x7F
            value = int.from_bytes(webm[timestamp_at + 2 : timestamp_at + 2 + length], "big")
            found.append((at, value / 1000))
        at = webm.find(CLUSTER_ID, at + 1)
    return found


def _rotate(path: Path, rotation: int) -> None:
    """Store a display matrix turning the picture ``rotation`` degrees clockwise: with
    -display_rotation (counter-clockwise) where the binary has it (the bundled 9.0); 5.1 has
    not, and its MP4/MOV muxer writes the same matrix from the stream's "rotate" tag, which 9.0
    ignores."""
    rotated = path.with_name(f"{path.stem}.rotating{path.suffix}")
    angle = str(-rotation % 360)
    if "display_rotation" in inspect_ffmpeg().options:
        _ffmpeg("-display_rotation", angle, "-i", str(path), "-c", "copy", str(rotated))
    elif path.suffix.lower() in (".mp4", ".mov"):
        _ffmpeg("-i", str(path), "-c", "copy", "-metadata:s:v:0", f"rotate={angle}", str(rotated))
    else:
        raise ValueError(f"this FFmpeg can store a rotation in .mp4 and .mov only, not {path.name}")
    rotated.replace(path)


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


BROKEN_KINDS = (
    "empty",
    "not_media",
    "truncated",
    "truncated_faststart",
    "corrupt_header",
    "corrupt_middle",
    "huge",
)


def make_broken(path: str | Path, kind: str) -> Path:
    """A damaged file of ``kind`` (one of ``BROKEN_KINDS``), as uploads arrive:

    - ``empty``: zero bytes; ``not_media``: text named .mp4;
    - ``truncated``: an MP4 cut in half, its index (written last) lost;
    - ``truncated_faststart``: index first, half of the picture data missing, so the index
      promises more than the file holds;
    - ``corrupt_header`` / ``corrupt_middle``: bytes overwritten at the start / in the middle;
    - ``huge``: one black 8192x8192 frame, a picture bigger than any service should decode.
    """
    path = Path(path)
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "not_media":
        path.write_bytes(b"hello, this is not a video\n" * 100)
    elif kind in ("truncated", "corrupt_header", "corrupt_middle"):
        whole = make_video(path.with_name(f"{path.stem}.whole.mp4"), seconds=4)
        data = bytearray(whole.read_bytes())
        whole.unlink()
        if kind == "truncated":
            del data[len(data) // 2 :]
        elif kind == "corrupt_header":
            data[:4096] = bytes((i * 37 + 11) % 256 for i in range(4096))
        else:
            middle = len(data) // 2
            data[middle : middle + 8192] = bytes((i * 53 + 7) % 256 for i in range(8192))
        path.write_bytes(bytes(data))
    elif kind == "truncated_faststart":
        whole = make_video(path.with_name(f"{path.stem}.whole.mp4"), seconds=4)
        _ffmpeg("-i", str(whole), "-c", "copy", "-movflags", "+faststart", str(path))
        whole.unlink()
        complete = path.read_bytes()
        path.write_bytes(complete[: len(complete) // 2])
    elif kind == "huge":
        _ffmpeg(
            "-f",
            "lavfi",
            "-i",
            "color=black:size=8192x8192:rate=1:duration=1",
            "-frames:v",
            "1",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            str(path),
        )
    else:
        raise ValueError(f"unknown kind {kind!r}; one of {', '.join(BROKEN_KINDS)}")
    return path


def _ffmpeg(*args: str) -> None:
    subprocess.run(  # noqa: S603 - our own binary and arguments
        [ffmpeg_path(), "-hide_banner", "-nostdin", "-y", "-loglevel", "error", *args],
        check=True,
        capture_output=True,
    )
