"""One representative picture per scene: of a few frames spread over the scene's steady part
(its transitions left out), the sharpest by the variance of the Laplacian, so a blurred or
half-faded first frame does not stand for the scene; returned as JPEG or WebP bytes.
``KeyframePicker`` is fed the frames of a decoding pass (``video_signals.picture_signals``);
synchronous and CPU-bound."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from v100.media._frames import PickedFrame, Pixels, gray
from v100.media.scenes import SceneDetection

__all__ = ["Keyframe", "KeyframeFormat", "KeyframePicker", "sharpness"]

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


class KeyframePicker:
    """Weighs up to ``candidates`` evenly spread frames of each scene (``wanted`` says which;
    fed in order with ``offer``) and keeps the sharpest; ``keyframes`` encodes them at
    ``quality`` (1-100)."""

    def __init__(
        self,
        detection: SceneDetection,
        *,
        candidates: int = 8,
        image_format: KeyframeFormat = "jpeg",
        quality: int = 85,
    ) -> None:
        if candidates < 1:
            raise ValueError("candidates must be at least 1")
        if not 1 <= quality <= 100:
            raise ValueError("quality must be 1-100")
        self._owner: dict[int, int] = {}
        for scene, frames in enumerate(_candidates(detection, candidates)):
            self._owner.update(dict.fromkeys(frames, scene))
        self._format: KeyframeFormat = image_format
        self._quality = quality
        self._best: dict[int, tuple[float, PickedFrame]] = {}

    def wanted(self, index: int) -> bool:
        return index in self._owner

    def offer(self, picked: PickedFrame) -> None:
        """A candidate frame, RGB, upright, at the size the keyframe should have."""
        scene = self._owner[picked.index]
        score = sharpness(gray(picked.pixels))
        if scene not in self._best or score > self._best[scene][0]:
            self._best[scene] = (score, picked)

    def keyframes(self) -> list[Keyframe]:
        return [
            Keyframe(
                scene=scene,
                frame=picked.index,
                time=picked.time,
                sharpness=round(score, 2),
                image=_encode(picked.pixels, self._format, self._quality),
                format=self._format,
                width=int(picked.pixels.shape[1]),
                height=int(picked.pixels.shape[0]),
            )
            for scene, (score, picked) in sorted(self._best.items())
        ]


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
        chosen.append(sorted({round(s) for s in steps}))
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
