"""Decoded pictures for the video signals (scenes, keyframes, faces), two ways: ``scan_frames``
streams every frame, shrunk to a few thousand pixels, out of one FFmpeg run together with the
``scdet`` filter's per-frame scores; ``pick_frames`` decodes with PyAV in-process and converts
only the frames asked for (the rest are decoded, never scaled or copied). Both count frames the
same way (decoded pictures in presentation order, from 0) and give times from the first frame.
Synchronous: callers run them in a worker thread or process."""

from __future__ import annotations

import math
import re
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt

from v100.media._errors import CorruptMedia, FFmpegFailed, FFmpegTimedOut, UnsupportedMedia
from v100.media._ffmpeg import INPUT_DEMUXERS, ffmpeg_path, input_args

__all__ = ["FrameScan", "PickedFrame", "analysis_size", "gray", "pick_frames", "scan_frames"]

# About 96x54 luma pixels: enough to tell shots apart, cheap to compare many times per frame.
_ANALYSIS_PIXELS = 64 * 36
_OPEN_OPTIONS = {"protocol_whitelist": "file", "format_whitelist": INPUT_DEMUXERS}
_FRAME_LINE = re.compile(r"\] frame:(\d+)\s+pts:\S+\s+pts_time:(\S+)")
_VALUE_LINE = re.compile(r"\] lavfi\.scd\.(mafd|score)=([0-9.]+)")
_STDERR_TAIL = 32 * 1024

Pixels = npt.NDArray[np.uint8]


def analysis_size(width: int, height: int) -> tuple[int, int]:
    """An even size of about ``_ANALYSIS_PIXELS`` with the picture's aspect."""
    scale = math.sqrt(_ANALYSIS_PIXELS / max(1, width * height))
    return max(2, 2 * round(width * scale / 2)), max(2, 2 * round(height * scale / 2))


@dataclass(slots=True)
class FrameScan:
    """What the scan read besides the pixels, filled in as frames arrive; complete when the
    iterator of ``scan_frames`` is exhausted. ``scores`` and ``mafd`` are ``scdet``'s (0-100:
    the mean absolute difference to the previous frame as a percentage of full scale, and that
    difference's jump from the previous one's)."""

    times: list[float]
    scores: list[float]
    mafd: list[float]


def scan_frames(
    src: str | Path, size: tuple[int, int], *, timeout: float | None = None
) -> tuple[FrameScan, Iterator[Pixels]]:
    """Every frame of the first video stream, displayed upright and shrunk to ``size``, as
    planar YUV 4:2:0 bytes (luma first), with ``scdet``'s scores in the returned
    ``FrameScan``. ``FFmpegFailed`` when FFmpeg refuses the file, ``FFmpegTimedOut`` when it
    runs past ``timeout`` seconds (the process is killed)."""
    width, height = size
    frame_bytes = width * height * 3 // 2
    chain = (
        f"scale={width}:{height}:flags=area,format=yuv420p,"
        # The threshold is ours to apply: scdet only measures (100 never marks a frame).
        "scdet=threshold=100,metadata=mode=print"
    )
    command = [
        ffmpeg_path(),
        *("-hide_banner", "-nostdin", "-nostats", "-loglevel", "info"),
        # The deblocking filter smooths block edges that a 64x36 copy averages away anyway.
        *("-skip_loop_filter", "all"),
        *input_args(src),
        *("-map", "0:v:0", "-an", "-sn", "-dn", "-fps_mode", "passthrough"),
        *("-vf", chain, "-f", "rawvideo", "-pix_fmt", "yuv420p", "pipe:1"),
    ]
    scan = FrameScan(times=[], scores=[], mafd=[])
    return scan, _frames(command, frame_bytes, scan, timeout)


def _frames(
    command: list[str], frame_bytes: int, scan: FrameScan, timeout: float | None
) -> Iterator[Pixels]:
    process = subprocess.Popen(  # noqa: S603 - our binary, arguments built above
        command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert process.stdout is not None
    assert process.stderr is not None
    tail: list[str] = []
    reader = threading.Thread(target=_read_stderr, args=(process.stderr, scan, tail), daemon=True)
    reader.start()
    expired = threading.Event()

    def expire() -> None:
        expired.set()
        process.kill()

    timer = threading.Timer(timeout, expire) if timeout else None
    if timer is not None:
        timer.start()
    count = 0
    try:
        while chunk := process.stdout.read(frame_bytes):
            if len(chunk) < frame_bytes:
                break
            count += 1
            yield np.frombuffer(chunk, dtype=np.uint8)
        returncode = process.wait()
        reader.join()
    finally:
        if timer is not None:
            timer.cancel()
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
    stderr = "".join(tail)
    if expired.is_set():
        raise FFmpegTimedOut(
            f"ffmpeg did not finish within {timeout:g} s", returncode=None, stderr=stderr
        )
    if returncode != 0:
        last = stderr.strip().splitlines()[-1] if stderr.strip() else f"exit {returncode}"
        raise FFmpegFailed(f"ffmpeg failed: {last}", returncode=returncode, stderr=stderr)
    if count == 0:
        raise CorruptMedia("no picture could be decoded from the video")
    # A frame whose line was lost (never seen) would shift every time after it.
    if not len(scan.times) == len(scan.scores) == len(scan.mafd) == count:
        raise FFmpegFailed(
            f"ffmpeg reported {len(scan.times)} frames and wrote {count}",
            returncode=returncode,
            stderr=stderr,
        )


def _read_stderr(stream: IO[bytes], scan: FrameScan, tail: list[str]) -> None:
    first: float | None = None
    size = 0
    for raw in stream:
        line = raw.decode("utf-8", "replace")
        if frame := _FRAME_LINE.search(line):
            stamp = float(frame.group(2)) if frame.group(2) != "nan" else math.nan
            if first is None:
                first = stamp
            scan.times.append(round(stamp - first, 6))
        elif value := _VALUE_LINE.search(line):
            target = scan.mafd if value.group(1) == "mafd" else scan.scores
            target.append(float(value.group(2)))
        else:
            tail.append(line)
            size += len(line)
            while size > _STDERR_TAIL and len(tail) > 1:
                size -= len(tail.pop(0))


@dataclass(frozen=True, slots=True)
class PickedFrame:
    index: int
    time: float
    # Upright, as displayed: (height, width, 3) RGB (or gray (height, width) once converted).
    pixels: Pixels


def pick_frames(
    src: str | Path,
    wanted: Callable[[int], bool],
    *,
    max_width: int | None = None,
) -> Iterator[PickedFrame]:
    """The frames whose index ``wanted`` accepts, RGB, no wider than ``max_width`` (aspect
    kept), turned upright by the stream's display matrix."""
    import av  # heavy import, on first use

    try:
        container = av.open(str(src), options=_OPEN_OPTIONS)
    except av.error.InvalidDataError:
        raise UnsupportedMedia("not a readable audio or video file") from None
    except av.error.FFmpegError as error:
        raise CorruptMedia(f"could not open the file: {error.strerror}") from None
    try:
        if not container.streams.video:
            raise UnsupportedMedia("the file has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        yield from _decode(container, stream, wanted, max_width)
    except av.error.FFmpegError as error:
        raise CorruptMedia(f"could not decode the video: {error.strerror}") from None
    finally:
        container.close()


def _decode(
    container: Any,
    stream: Any,
    wanted: Callable[[int], bool],
    max_width: int | None,
) -> Iterator[PickedFrame]:
    first: float | None = None
    for index, frame in enumerate(container.decode(stream)):
        stamp = float(frame.time) if frame.time is not None else 0.0
        if first is None:
            first = stamp
        if not wanted(index):
            continue
        turns = round((frame.rotation or 0) / 90) % 4  # counter-clockwise quarter turns
        width, height = frame.width, frame.height
        if max_width is not None:
            shown = height if turns % 2 else width
            if shown > max_width:
                scale = max_width / shown
                width, height = max(2, round(width * scale)), max(2, round(height * scale))
        pixels = frame.to_ndarray(width=width, height=height, format="rgb24")
        if turns:
            pixels = np.ascontiguousarray(np.rot90(pixels, turns))
        yield PickedFrame(index=index, time=round(stamp - first, 6), pixels=pixels)


def gray(rgb: Pixels) -> Pixels:
    """The luma of an RGB picture."""
    import cv2

    luma: Pixels = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.uint8, copy=False)
    return luma
