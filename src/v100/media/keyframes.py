"""One representative picture per scene: of a few frames spread over the scene's steady part
(its transitions left out), the sharpest by the variance of the Laplacian, so a blurred or
half-faded first frame does not stand for the scene; returned as JPEG or WebP bytes.
Synchronous and CPU-bound: services run it in a worker thread or process."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from v100.media._frames import Pixels, pick_frames
from v100.media.scenes import SceneDetection

__all__ = ["Keyframe", "KeyframeFormat", "pick_keyframes", "sharpness"]

KeyframeFormat = Literal["jpeg", "webp"]


@dataclass(frozen=True, slots=True)
class Keyframe:
    scene: int
    frame: int
    time: float
    # Variance of the Laplacian of the picture as returned (higher is sharper).
    sharpness: float
    image: bytes
    format: KeyframeFormat
    width: int
    height: int


def sharpness(gray: Pixels) -> float:
    import cv2  # heavy import, on first use

    return float(cv2.Laplacian(gray, cv2.CV_64F).var())


def pick_keyframes(
    src: str | Path,
    detection: SceneDetection,
    *,
    candidates: int = 8,
    max_width: int = 640,
    image_format: KeyframeFormat = "jpeg",
    quality: int = 85,
) -> list[Keyframe]:
    """The sharpest of up to ``candidates`` evenly spread frames of each scene, scaled to
    ``max_width`` at most, encoded at ``quality`` (1-100)."""
    import cv2

    if candidates < 1:
        raise ValueError("candidates must be at least 1")
    if not 1 <= quality <= 100:
        raise ValueError("quality must be 1-100")
    owner: dict[int, int] = {}
    for scene, frames in enumerate(_candidates(detection, candidates)):
        owner.update(dict.fromkeys(frames, scene))
    best: dict[int, tuple[float, int, float, Pixels]] = {}
    for picked in pick_frames(src, owner.__contains__, max_width=max_width, stop_after=max(owner)):
        scene = owner[picked.index]
        score = sharpness(cv2.cvtColor(picked.pixels, cv2.COLOR_RGB2GRAY))
        if scene not in best or score > best[scene][0]:
            best[scene] = (score, picked.index, picked.time, picked.pixels)
    keyframes = []
    for scene, (score, frame, time, rgb) in sorted(best.items()):
        keyframes.append(
            Keyframe(
                scene=scene,
                frame=frame,
                time=time,
                sharpness=round(score, 2),
                image=_encode(rgb, image_format, quality),
                format=image_format,
                width=int(rgb.shape[1]),
                height=int(rgb.shape[0]),
            )
        )
    return keyframes


def _candidates(detection: SceneDetection, count: int) -> list[list[int]]:
    """Frames to weigh per scene: evenly spread over its steady part (between the end of the
    transition into it and the start of the one out of it), or its middle frame when the
    transitions fill it."""
    ends = {b.frame: b for b in detection.boundaries}
    chosen = []
    for scene in detection.scenes:
        entering = ends.get(scene.start_frame)
        leaving = ends.get(scene.end_frame)
        first = entering.end_frame + 1 if entering is not None else scene.start_frame
        last = leaving.start_frame - 1 if leaving is not None else scene.end_frame - 1
        first, last = max(first, scene.start_frame), min(last, scene.end_frame - 1)
        if last < first:
            first = last = (scene.start_frame + scene.end_frame - 1) // 2
        steps = np.linspace(first, last, num=min(count, last - first + 1))
        chosen.append(sorted({int(round(s)) for s in steps}))
    return chosen


def _encode(rgb: Pixels, image_format: KeyframeFormat, quality: int) -> bytes:
    import cv2

    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    if image_format == "jpeg":
        ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    else:
        ok, data = cv2.imencode(".webp", bgr, [cv2.IMWRITE_WEBP_QUALITY, quality])
    if not ok:
        raise ValueError(f"the keyframe could not be encoded as {image_format}")
    return data.tobytes()
