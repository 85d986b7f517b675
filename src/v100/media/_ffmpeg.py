"""Running FFmpeg: which binary (``V100_FFMPEG``, else the bundled one), the safe way to name
an input (protocol and demuxer whitelists, so a crafted playlist cannot read local files or
reach other hosts), and a runner that streams ``-progress`` into callbacks and never leaves a
process behind."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import os
import shutil
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from v100.media._errors import FFmpegFailed, FFmpegTimedOut, FFmpegUnusable

__all__ = [
    "INPUT_DEMUXERS",
    "PYAV_OPEN_OPTIONS",
    "Progress",
    "ProgressCallback",
    "bundled_ffmpeg",
    "ffmpeg_path",
    "input_args",
    "run_ffmpeg",
]

# Demuxers of real audio/video containers. Playlists (hls, concat), image sequences and
# anything that can open further URLs are left out on purpose.
INPUT_DEMUXERS = ",".join(
    [
        "mov,mp4,m4a,3gp,3g2,mj2",
        "matroska,webm",
        "avi",
        "flv",
        "mpegts",
        "mpeg",
        "ogg",
        "wav",
        "mp3",
        "aac",
        "flac",
        "asf",
        "mxf",
        "gif",
    ]
)
# The same rules for a file opened in-process with PyAV (probe, frames, clips, scenes): local
# files only, and only the demuxers above.
PYAV_OPEN_OPTIONS = {"protocol_whitelist": "file", "format_whitelist": INPUT_DEMUXERS}
_STDERR_TAIL = 64 * 1024


@dataclass(frozen=True, slots=True)
class Progress:
    # 0..100 when the expected output duration is known, else None.
    percent: float | None
    out_time: float
    speed: float | None
    done: bool


ProgressCallback = Callable[[Progress], Awaitable[None] | None]


@functools.cache
def ffmpeg_path() -> str:
    """``V100_FFMPEG`` if set (a path, or a command name looked up on PATH), else the FFmpeg
    bundled by imageio-ffmpeg. Never an ``ffmpeg`` merely found on PATH: its version and build
    are whatever the machine has (Debian 12's 5.1, say), so using one is a choice written down.
    ``check_ffmpeg`` says whether the binary can run our operations."""
    configured = os.environ.get("V100_FFMPEG", "").strip()
    if configured:
        return shutil.which(configured) or configured
    return bundled_ffmpeg()


def bundled_ffmpeg() -> str:
    """The binary inside the imageio-ffmpeg wheel (not its PATH or conda fallbacks)."""
    import imageio_ffmpeg  # heavy-ish import, only when needed

    binaries = Path(imageio_ffmpeg.__file__).parent / "binaries"
    found = sorted(path for path in binaries.glob("ffmpeg-*") if path.is_file())
    if not found:
        raise FFmpegUnusable(
            f"imageio-ffmpeg bundles no FFmpeg for this platform (nothing in {binaries}); "
            "install FFmpeg 5.1 or newer and name it in V100_FFMPEG",
            path=str(binaries),
            missing=["bundled binary"],
        )
    return str(found[-1])


def input_args(path: str | Path, *, seek: float | None = None) -> list[str]:
    """``-i`` for a local file, readable only through the ``file`` protocol and real demuxers."""
    args = ["-protocol_whitelist", "file", "-format_whitelist", INPUT_DEMUXERS]
    if seek is not None:
        args += ["-ss", f"{seek:.3f}"]
    return [*args, "-i", str(path)]


async def run_ffmpeg(
    args: Sequence[str],
    *,
    duration: float | None = None,
    on_progress: ProgressCallback | None = None,
    timeout: float | None = None,  # noqa: ASYNC109 - a timeout reported as FFmpegTimedOut
) -> str:
    """Run ``ffmpeg <args>`` and return its stderr (warnings). ``duration`` is the expected
    output length in seconds, which turns FFmpeg's ``out_time`` into a percentage. A cancelled
    or timed-out run kills the process before the exception propagates."""
    command = [
        ffmpeg_path(),
        "-hide_banner",
        "-nostdin",
        "-y",
        "-loglevel",
        "error",
        "-nostats",
        "-progress",
        "pipe:1",
        *args,
    ]
    process = await asyncio.create_subprocess_exec(
        *command,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    stderr = bytearray()

    async def read_stderr() -> None:
        assert process.stderr is not None
        while chunk := await process.stderr.read(65536):
            stderr.extend(chunk)
            if len(stderr) > 2 * _STDERR_TAIL:
                del stderr[:-_STDERR_TAIL]

    async def read_progress() -> None:
        assert process.stdout is not None
        block: dict[str, str] = {}
        async for raw in process.stdout:
            key, _, value = raw.decode("utf-8", "replace").strip().partition("=")
            if key != "progress":
                block[key] = value
                continue
            if on_progress is not None:
                result = on_progress(_progress(block, duration, done=value == "end"))
                if inspect.isawaitable(result):
                    await result
            block = {}

    try:
        async with asyncio.timeout(timeout):
            await asyncio.gather(read_stderr(), read_progress())
            returncode = await process.wait()
    except TimeoutError:
        await _kill(process)
        raise FFmpegTimedOut(
            f"ffmpeg did not finish within {timeout:g} s",
            returncode=None,
            stderr=_tail(stderr),
        ) from None
    except BaseException:
        await _kill(process)
        raise
    if returncode != 0:
        text = _tail(stderr)
        last = text.strip().splitlines()[-1] if text.strip() else f"exit status {returncode}"
        raise FFmpegFailed(f"ffmpeg failed: {last}", returncode=returncode, stderr=text)
    return _tail(stderr)


def _progress(block: dict[str, str], duration: float | None, *, done: bool) -> Progress:
    out_time = 0.0
    with contextlib.suppress(ValueError):
        out_time = max(0.0, int(block.get("out_time_us", "0")) / 1_000_000)
    speed: float | None = None
    with contextlib.suppress(ValueError):
        speed = float(block.get("speed", "").rstrip("x"))
    percent: float | None = None
    if duration and duration > 0:
        percent = 100.0 if done else min(99.9, round(100 * out_time / duration, 1))
    return Progress(percent=percent, out_time=out_time, speed=speed, done=done)


async def _kill(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
    with contextlib.suppress(Exception):
        await asyncio.shield(process.wait())


def _tail(buffer: bytearray) -> str:
    return bytes(buffer[-_STDERR_TAIL:]).decode("utf-8", "replace")
