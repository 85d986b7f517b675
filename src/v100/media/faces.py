"""Faces in a picture with OpenCV's Haar cascades (shipped inside opencv-python-headless 4.x,
DESIGN.md section 8): the frontal cascade, and the profile one (both ways: it knows left-facing
profiles only) where the frontal found nothing; overlapping finds merged by non-maximum
suppression. A ``FaceDetector`` holds its cascades: one per thread (OpenCV's classifier keeps
scratch state)."""

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
    """``detect`` finds faces at least ``min_size`` of the picture's shorter side tall.
    ``min_neighbors`` is how many overlapping windows must agree (higher: fewer, surer
    faces)."""

    def __init__(
        self,
        *,
        profile: bool = True,
        min_size: float = 0.08,
        scale_factor: float = 1.1,
        min_neighbors: int = 5,
    ) -> None:
        import cv2  # heavy import, on first use

        folder = cv2.data.haarcascades  # type: ignore[attr-defined]
        self._frontal = cv2.CascadeClassifier(folder + "haarcascade_frontalface_default.xml")
        self._profile = (
            cv2.CascadeClassifier(folder + "haarcascade_profileface.xml") if profile else None
        )
        if self._frontal.empty() or (self._profile is not None and self._profile.empty()):
            raise RuntimeError(f"OpenCV's face cascades are missing from {folder}")
        self._min_size = min_size
        self._scale_factor = scale_factor
        self._min_neighbors = min_neighbors

    def detect(self, gray: Pixels) -> list[FaceBox]:
        """Faces in a gray picture, in its pixels."""
        import cv2

        equalized = cv2.equalizeHist(gray)
        side = max(20, round(self._min_size * min(gray.shape[:2])))
        found = self._run(self._frontal, equalized, side, "frontal")
        if not found and self._profile is not None:
            found = self._run(self._profile, equalized, side, "profile")
            width = gray.shape[1]
            mirrored = self._run(self._profile, np.ascontiguousarray(equalized[:, ::-1]), side, "profile")
            found += [
                FaceBox(width - b.x - b.width, b.y, b.width, b.height, b.score, b.view)
                for b in mirrored
            ]
        return suppress(found)

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
