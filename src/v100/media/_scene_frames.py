"""The small pictures scene detection looks at, decoded in-process with PyAV: only the frames
other frames are predicted from, since a frame no other frame needs costs a decode but tells a
cut, a fade or a dissolve apart no better than its neighbours. For x264 streams with one
reference frame (presets ultrafast to veryfast: the platform's own encodes) that is the I and P
frames (``skip_frame`` ``BIDIR``: P frames are predicted from I and P frames alone, so even the
reference B frames can go); for any other stream, the reference frames (``NONREF``). The
deblocking filter is skipped too (a 64x36 copy averages block edges away). A decoded frame is
identified by its presentation timestamp's rank among all the stream's packets, so frame
numbers are those of a decode of every frame (as ``pick_frames`` counts them) although most are
never decoded. ``rescan`` decodes every frame of a span (from the keyframe before it), to place
a boundary seen across a wide gap.

Synchronous and CPU-bound: callers run it in a worker thread or process. ADR 0043 (amendment of
2026-12-08) gives the measurements."""

from __future__ import annotations

import bisect
import heapq
import itertools
import math
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from v100.media._errors import CorruptMedia, FFmpegTimedOut, UnsupportedMedia
from v100.media._ffmpeg import PYAV_OPEN_OPTIONS

__all__ = ["SceneFrames", "rescan", "scene_frames"]

Pixels = npt.NDArray[np.uint8]
# Planar 8-bit formats whose planes are read as they are (any chroma size: each plane is
# shrunk to the analysis size on its own); any other is converted to yuv420p first.
_PLANAR = {"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p"}
# Frame threads: two keep two cores busy decoding; more only add frames in flight.
_THREADS = 2
# x264 writes its settings ("x264 - core 164 ... ref=1 ...") in an SEI of its first picture.
_SETTINGS_BYTES = 4096
_X264_REFERENCES = re.compile(rb" ref=(\d+) ")


@dataclass(slots=True)
class SceneFrames:
    """What the scan read besides the pixels, complete when its iterator is exhausted: the
    time of every frame of the stream (seconds from the first, decoded or not) and the frame
    number of each picture the iterator gave."""

    times: list[float] = field(default_factory=list)
    decoded: list[int] = field(default_factory=list)
    # The packets' presentation timestamps in order (the stream's time base): frame n's is
    # ``pts[n]`` (empty for a stream without timestamps).
    pts: list[int] = field(default_factory=list)


def scene_frames(
    src: str | Path,
    size: tuple[int, int],
    *,
    references_only: bool = True,
    timeout: float | None = None,
) -> tuple[SceneFrames, Iterator[Pixels]]:
    """The pictures of the first video stream (with ``references_only``, those other frames
    are predicted from; all of them otherwise), each shrunk to ``size`` (width, height; turned
    to the coded picture's orientation) as planar YUV 4:2:0 bytes, luma first. Frame numbers
    and times come from the packets' timestamps; a stream without them is decoded whole and
    counted. ``FFmpegTimedOut`` past ``timeout`` seconds."""
    scan = SceneFrames()
    return scan, _scan(src, size, references_only, timeout, scan)


def rescan(
    src: str | Path,
    size: tuple[int, int],
    scan: SceneFrames,
    first: int,
    last: int,
    *,
    timeout: float | None = None,
) -> dict[int, Pixels]:
    """Every frame numbered ``first`` to ``last`` (inclusive) of a stream ``scan`` read,
    shrunk as ``scene_frames`` does: decoded from the keyframe before ``first``."""
    import av

    deadline = time.monotonic() + timeout if timeout is not None else math.inf
    found: dict[int, Pixels] = {}
    try:
        with av.open(str(src), options=PYAV_OPEN_OPTIONS) as container:
            stream = container.streams.video[0]
            stream.codec_context.options = {"skip_loop_filter": "all"}
            container.seek(scan.pts[first], stream=stream, backward=True)
            for packet in container.demux(stream):
                _check(deadline, timeout)
                for frame in _decoded(packet):
                    if frame.pts is None:
                        continue
                    number = bisect.bisect_left(scan.pts, frame.pts)
                    if first <= number <= last:
                        found[number] = _small(frame, size)
                    if number >= last:
                        return found
    except av.error.FFmpegError as error:
        raise CorruptMedia(f"could not decode the video: {error.strerror}") from None
    return found


def _check(deadline: float, timeout: float | None) -> None:
    if time.monotonic() >= deadline:
        raise FFmpegTimedOut(
            f"the scan did not finish within {timeout:g} s", returncode=None, stderr=""
        )


def _scan(
    src: str | Path,
    size: tuple[int, int],
    references_only: bool,
    timeout: float | None,
    scan: SceneFrames,
) -> Iterator[Pixels]:
    import av  # heavy import, on first use

    deadline = time.monotonic() + timeout if timeout is not None else math.inf
    try:
        container = av.open(str(src), options=PYAV_OPEN_OPTIONS)
    except av.error.FFmpegError as error:
        # The file was probed as a video before: one that no longer opens is damaged.
        raise CorruptMedia(f"could not open the file: {error.strerror}") from None
    try:
        if not container.streams.video:
            raise UnsupportedMedia("the file has no video stream")
        stream = container.streams.video[0]
        context = stream.codec_context
        context.options = {"skip_loop_filter": "all"}
        stream.thread_type = "FRAME"
        context.thread_count = _THREADS
        packets = container.demux(stream)
        head = list(_until_data(packets))
        # Without timestamps, frames can only be counted, so every one is decoded.
        timed = bool(head) and head[-1].pts is not None
        if references_only and timed:
            context.skip_frame = "BIDIR" if _p_frames_alone(head[-1]) else "NONREF"
        yield from _decode(
            itertools.chain(head, packets), stream, size, scan, deadline, timeout, timed
        )
    except av.error.FFmpegError as error:
        raise CorruptMedia(f"could not decode the video: {error.strerror}") from None
    finally:
        container.close()


def _p_frames_alone(packet: Any) -> bool:
    """Whether the stream's P frames are predicted from I and P frames alone, so that its B
    frames (reference B frames included) can all be left undecoded: known of x264 with one
    reference frame (its presets ultrafast to veryfast, the platform's own encodes), whose
    settings it writes in its first picture. With more references x264 predicts P frames from
    reference B frames too (a P frame decoded without them is wrong), and other encoders are
    not known: those streams lose only their non-reference frames."""
    data = bytes(packet)[:_SETTINGS_BYTES]
    if b"x264 - core " not in data:
        return False
    references = _X264_REFERENCES.search(data)
    return references is not None and references.group(1) == b"1"


def _until_data(packets: Iterator[Any]) -> Iterator[Any]:
    """The packets up to and including the first that carries data."""
    for packet in packets:
        yield packet
        if packet.size:
            return


def _decode(
    packets: Iterator[Any],
    stream: Any,
    size: tuple[int, int],
    scan: SceneFrames,
    deadline: float,
    timeout: float | None,
    timed: bool,
) -> Iterator[Pixels]:
    # Presentation timestamps of the packets read and not yet matched to a decoded frame: a
    # decoder gives frames in presentation order, so every packet shown before a frame has been
    # read by the time it comes out, and the frame's number is how many were shown before it.
    pending: list[int] = []
    shown: list[int] = []
    counted = 0
    for packet in packets:
        _check(deadline, timeout)
        if timed and packet.pts is not None and not packet.is_discard:
            heapq.heappush(pending, packet.pts)
        for frame in _decoded(packet):
            if timed:
                if frame.pts is None:
                    continue
                while pending and pending[0] <= frame.pts:
                    shown.append(heapq.heappop(pending))
                number = len(shown) - 1
                if number < 0 or shown[-1] != frame.pts:
                    continue
            else:
                number = counted
            counted += 1
            scan.decoded.append(number)
            yield _small(frame, size)
    if not scan.decoded:
        raise CorruptMedia("no picture could be decoded from the video")
    base = stream.time_base
    if timed and base is not None:
        shown.extend(sorted(pending))
        scan.pts[:] = shown
        first = shown[0]
        scan.times[:] = [round(float((pts - first) * base), 6) for pts in shown]
    else:
        rate = float(stream.average_rate or 25)
        scan.times[:] = [round(n / rate, 6) for n in range(counted)]


def _decoded(packet: Any) -> list[Any]:
    import av

    try:
        return list(packet.decode())
    except av.error.InvalidDataError:
        return []  # a damaged packet: the decoder conceals it and goes on


def _small(frame: Any, size: tuple[int, int]) -> Pixels:
    import cv2

    width, height = size
    if (frame.width > frame.height) != (width > height):
        width, height = height, width
    if frame.format.name not in _PLANAR:
        frame = frame.reformat(format="yuv420p")
    planes = []
    for n, plane in enumerate(frame.planes[:3]):
        rows = plane.height
        pixels = np.frombuffer(plane, dtype=np.uint8).reshape(rows, plane.line_size)
        pixels = pixels[:, : plane.width]
        target = (width, height) if n == 0 else (width // 2, height // 2)
        planes.append(cv2.resize(pixels, target, interpolation=cv2.INTER_AREA).ravel())
    small: Pixels = np.concatenate(planes)
    return small
