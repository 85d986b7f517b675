"""Faces in a picture with OpenCV's Haar cascades (shipped inside opencv-python-headless 4.x,
DESIGN.md section 8): the frontal cascade over the whole picture, and the profile one (both
ways: it knows faces looking one way only) around a face a track just lost; overlapping finds
merged by non-maximum suppression. A ``FaceDetector`` holds its cascades: one per thread
(OpenCV's classifier keeps scratch state)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from v100.media._frames import Pixels

__all__ = ["FaceBox", "FaceDetector", "iou", "suppress"]


@dataclass(frozen=True, slots=True)
class FaceBox:
    x: int
    y: int
    width: int
    height: int
    # The cascade's confidence (its last stage's level weight; higher is surer).
    score: float
    view: str  # "frontal" or "profile"

    def scaled(self, factor: float) -> FaceBox:
        return FaceBox(
            round(self.x * factor),
            round(self.y * factor),
            round(self.width * factor),
            round(self.height * factor),
            self.score,
            self.view,
        )


def iou(a: FaceBox, b: FaceBox) -> float:
    """Intersection over union of two boxes."""
    left, top = max(a.x, b.x), max(a.y, b.y)
    right = min(a.x + a.width, b.x + b.width)
    bottom = min(a.y + a.height, b.y + b.height)
    inter = max(0, right - left) * max(0, bottom - top)
    union = a.width * a.height + b.width * b.height - inter
    return inter / union if union > 0 else 0.0


def suppress(boxes: list[FaceBox], *, overlap: float = 0.3) -> list[FaceBox]:
    """Non-maximum suppression: the surest box of each overlapping group (IoU above
    ``overlap``, or one inside the other) stays."""
    kept: list[FaceBox] = []
    for box in sorted(boxes, key=lambda b: b.score, reverse=True):
        if all(iou(box, k) <= overlap and not _inside(box, k) for k in kept):
            kept.append(box)
    return kept


def _inside(a: FaceBox, b: FaceBox) -> bool:
    """Most of the smaller box lies within the larger one."""
    small, large = (a, b) if a.width * a.height <= b.width * b.height else (b, a)
    left, top = max(small.x, large.x), max(small.y, large.y)
    right = min(small.x + small.width, large.x + large.width)
    bottom = min(small.y + small.height, large.y + large.height)
    inter = max(0, right - left) * max(0, bottom - top)
    return inter >= 0.7 * small.width * small.height


class FaceDetector:
    """``detect`` finds frontal faces at least ``min_size`` of the picture's shorter side
    tall; ``profiles`` looks for a face turned sideways (either way) around a box, where a
    track lost its frontal face. ``min_neighbors`` is how many overlapping windows must agree
    (higher: fewer, surer faces); ``scale_factor`` the step between window sizes (lower:
    finer, slower)."""

    def __init__(
        self,
        *,
        min_size: float = 0.08,
        scale_factor: float = 1.15,
        min_neighbors: int = 5,
    ) -> None:
        import cv2  # heavy import, on first use

        folder: str = cv2.data.haarcascades  # type: ignore[attr-defined]  # not in cv2's stubs
        self._frontal = cv2.CascadeClassifier(folder + "haarcascade_frontalface_default.xml")
        self._profile = cv2.CascadeClassifier(folder + "haarcascade_profileface.xml")
        if self._frontal.empty() or self._profile.empty():
            raise RuntimeError(f"OpenCV's face cascades are missing from {folder}")
        self._min_size = min_size
        self._scale_factor = scale_factor
        self._min_neighbors = min_neighbors

    def detect(self, gray: Pixels) -> list[FaceBox]:
        """Frontal faces in a gray picture, in its pixels."""
        side = max(20, round(self._min_size * min(gray.shape[:2])))
        return suppress(self._run(self._frontal, gray, side, "frontal"))

    def profiles(self, gray: Pixels, near: FaceBox) -> list[FaceBox]:
        """Faces in profile (looking left or right) within twice ``near``'s size around it."""
        height, width = gray.shape[:2]
        left, top = max(0, near.x - near.width // 2), max(0, near.y - near.height // 2)
        right = min(width, near.x + near.width + near.width // 2)
        bottom = min(height, near.y + near.height + near.height // 2)
        if right - left < 24 or bottom - top < 24:
            return []
        region = np.ascontiguousarray(gray[top:bottom, left:right])
        side = max(20, round(0.6 * min(near.width, near.height)))
        found = self._run(self._profile, region, side, "profile")
        flipped = self._run(self._profile, np.ascontiguousarray(region[:, ::-1]), side, "profile")
        found += [
            FaceBox(region.shape[1] - b.x - b.width, b.y, b.width, b.height, b.score, b.view)
            for b in flipped
        ]
        return suppress(
            [FaceBox(b.x + left, b.y + top, b.width, b.height, b.score, b.view) for b in found]
        )

    def _run(self, cascade: Any, gray: Pixels, side: int, view: str) -> list[FaceBox]:
        boxes, _, weights = cascade.detectMultiScale3(
            gray,
            scaleFactor=self._scale_factor,
            minNeighbors=self._min_neighbors,
            minSize=(side, side),
            outputRejectLevels=True,
        )
        return [
            FaceBox(int(x), int(y), int(w), int(h), round(float(s), 3), view)
            for (x, y, w, h), s in zip(boxes, np.ravel(weights), strict=True)
        ]
