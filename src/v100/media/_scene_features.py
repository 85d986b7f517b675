"""Per-frame measurements that scene detection decides on, computed from small frames held in
a ring buffer (memory stays flat however long the video): how far each frame is from the one
before, whether the picture before a jump comes back within a few frames (a flash), whether a
frame is a blend of the frames some distance before and after it (a dissolve or a fade), and
its brightness (fades through black). Differences are mean absolute differences over all
pixels as a percentage of full scale, the unit of ``scdet`` and of the detection threshold."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

__all__ = ["SceneFeatures", "blend_scales"]

Vector = npt.NDArray[np.float32]
_TO_PERCENT = 100.0 / 255.0
# Luma at or below which a pixel counts as black (video range starts at 16).
_BLACK_LUMA = 40


def blend_scales(fps: float) -> tuple[int, ...]:
    """Half-widths in frames of the windows a blend is looked for in: about 0.2, 0.4, 0.8 and
    1.6 s, so transitions from a few frames to about three seconds are seen whole by one."""
    rate = fps if fps > 0 else 25.0
    return tuple(sorted({max(2, round(rate * seconds)) for seconds in (0.2, 0.4, 0.8, 1.6)}))


@dataclass(slots=True)
class SceneFeatures:
    """Fed frames in order with ``push`` (the luma plane's size given as ``luma``), then
    ``finish``; the lists then hold one value per frame (NaN where a window runs off the
    video)."""

    luma: int
    scales: tuple[int, ...]
    flash_frames: int
    # d(n, n-1).
    jump: list[float] = field(default_factory=list)
    # min over k in 1..flash_frames of d(n-1, n+k): the picture before n comes back.
    back_after: list[float] = field(default_factory=list)
    # min over k in 1..flash_frames of d(n, n-1-k): the picture at n was there just before.
    back_before: list[float] = field(default_factory=list)
    # Per scale w: d(n-w, n+w); the blend weight a of n ~ (1-a)*f[n-w] + a*f[n+w]; and what the
    # blend leaves unexplained, d(n, blend).
    span: dict[int, list[float]] = field(default_factory=dict)
    weight: dict[int, list[float]] = field(default_factory=dict)
    residual: dict[int, list[float]] = field(default_factory=dict)
    # Mean luma (0-255) and the share of luma pixels brighter than black.
    brightness: list[float] = field(default_factory=list)
    lit: list[float] = field(default_factory=list)
    _ring: list[Vector] = field(default_factory=list)
    _received: int = 0

    def __post_init__(self) -> None:
        for w in self.scales:
            self.span[w], self.weight[w], self.residual[w] = [], [], []

    @property
    def _lag(self) -> int:
        return max(max(self.scales), self.flash_frames)

    @property
    def _capacity(self) -> int:
        return 2 * self._lag + 2

    def push(self, frame: npt.NDArray[np.uint8]) -> None:
        vector = frame.astype(np.float32)
        luma = vector[: self.luma]
        self.brightness.append(float(luma.mean()))
        self.lit.append(float(np.count_nonzero(luma > _BLACK_LUMA)) / self.luma)
        if len(self._ring) < self._capacity:
            self._ring.append(vector)
        else:
            self._ring[self._received % self._capacity] = vector
        self._received += 1
        ready = self._received - 1 - self._lag
        if ready >= 0:
            self._measure(ready)

    def finish(self) -> None:
        for n in range(max(0, self._received - self._lag), self._received):
            self._measure(n)

    def _frame(self, n: int) -> Vector | None:
        if 0 <= n < self._received and n > self._received - 1 - self._capacity:
            return self._ring[n % self._capacity]
        return None

    def _measure(self, n: int) -> None:
        here, before = self._frame(n), self._frame(n - 1)
        assert here is not None
        self.jump.append(_distance(here, before) if before is not None else 0.0)
        after_k = [self._frame(n + k) for k in range(1, self.flash_frames + 1)]
        earlier_k = [self._frame(n - 1 - k) for k in range(1, self.flash_frames + 1)]
        self.back_after.append(
            min((_distance(before, f) for f in after_k if f is not None), default=math.inf)
            if before is not None
            else math.inf
        )
        self.back_before.append(
            min((_distance(here, f) for f in earlier_k if f is not None), default=math.inf)
        )
        for w in self.scales:
            start, end = self._frame(n - w), self._frame(n + w)
            if start is None or end is None:
                self.span[w].append(math.nan)
                self.weight[w].append(math.nan)
                self.residual[w].append(math.nan)
                continue
            change = end - start
            energy = float(np.dot(change, change))
            self.span[w].append(float(np.abs(change).mean()) * _TO_PERCENT)
            if energy <= 0:
                self.weight[w].append(math.nan)
                self.residual[w].append(math.nan)
                continue
            a = float(np.dot(here - start, change)) / energy
            self.weight[w].append(a)
            self.residual[w].append(_distance(here, start + a * change))


def _distance(a: Vector, b: Vector) -> float:
    return float(np.abs(a - b).mean()) * _TO_PERCENT
