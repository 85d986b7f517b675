"""Decoded pictures for the video signals (keyframes, faces, motion): ``pick_frames`` decodes
with PyAV in-process and converts only the frames asked for (the rest are decoded, never scaled
or copied), counting frames as decoded pictures in presentation order, from 0, with times from
the first frame (the scene scan, ``_scene_frames``, numbers its frames the same way), and
``analysis_size``, the small size scene detection measures at. Synchronous: callers run them in
a worker thread or process."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from v100.media._errors import CorruptMedia, UnsupportedMedia
from v100.media._ffmpeg import PYAV_OPEN_OPTIONS

__all__ = ["PickedFrame", "analysis_size", "gray", "pick_frames"]

# About 96x54 luma pixels: enough to tell shots apart, cheap to compare many times per frame.
_ANALYSIS_PIXELS = 64 * 36

Pixels = npt.NDArray[np.uint8]


def analysis_size(width: int, height: int) -> tuple[int, int]:
    """An even size of about ``_ANALYSIS_PIXELS`` with the picture's aspect."""
    scale = math.sqrt(_ANALYSIS_PIXELS / max(1, width * height))
    return max(2, 2 * round(width * scale / 2)), max(2, 2 * round(height * scale / 2))


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
        container = av.open(str(src), options=PYAV_OPEN_OPTIONS)
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
