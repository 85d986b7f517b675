"""Per-frame measurements that scene detection decides on, computed from small frames in
blocks (numpy over a few hundred frames at a time) while only the frames still needed are
held, so memory stays flat however long the video: how far each frame is from the one before,
whether the picture before a jump comes back within a few frames (a flash), whether a frame is
a blend of the frames some distance before and after it (a dissolve or a fade), and its
brightness (fades through black). Differences are mean absolute differences over all pixels
as a percentage of full scale, the unit of ``scdet`` and of the detection threshold."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

__all__ = ["SceneFeatures", "blend_scales"]

Block = npt.NDArray[np.float32]
Floats = npt.NDArray[np.float64]
_TO_PERCENT = 100.0 / 255.0
# Luma above which a pixel is not black (video range starts at 16).
_BLACK_LUMA = 40
_BLOCK = 32
_JUMP_SHARE = 0.9
_SPAN_SHARE = 0.5


def blend_scales(fps: float) -> tuple[int, ...]:
    """Half-widths in frames of the windows a blend is looked for in: about 0.2, 0.4, 0.8, 1.6
    and 2.4 s, so transitions from a few frames to about three seconds are seen in a window
    half as long again as they are."""
    rate = fps if fps > 0 else 25.0
    return tuple(sorted({max(2, round(rate * seconds)) for seconds in (0.2, 0.4, 0.8, 1.6, 2.4)}))


@dataclass(slots=True)
class SceneFeatures:
    """Fed frames in order with ``push`` (the luma plane's size given as ``luma``), then
    ``finish``; ``values`` then holds one array per measurement, one value per frame (NaN
    where a window runs off the video, inf where no frame was there to compare):

    - ``jump``: d(n, n-1);
    - ``back_after``: min over k in 1..flash_frames of d(n-1, n+k), the picture before n
      comes back; ``back_before``: min of d(n, n-1-k), the picture at n was there just before;
    - per scale w, ``span/w``: d(n-w, n+w); ``weight/w``: the a of the blend
      (1-a)*f[n-w] + a*f[n+w] nearest f[n]; ``residual/w``: d(n, that blend);
    - ``brightness``: mean luma (0-255); ``lit``: the share of luma pixels brighter than black.
    """

    luma: int
    scales: tuple[int, ...]
    flash_frames: int
    # Only where a change of this size is possible are the costlier measurements made: the
    # flash checks where a frame steps by nearly as much, the blends where the window spans
    # half as much (NaN and inf elsewhere).
    threshold: float
    values: dict[str, Floats] = field(default_factory=dict)
    _parts: dict[str, list[Floats]] = field(default_factory=dict)
    _pending: list[npt.NDArray[np.uint8]] = field(default_factory=list)
    _held: Block | None = None
    _base: int = 0  # index of the first held frame
    _next: int = 0  # the next frame to measure

    @property
    def _lag(self) -> int:
        return max(max(self.scales), self.flash_frames + 1)

    def push(self, frame: npt.NDArray[np.uint8]) -> None:
        self._pending.append(frame)
        if len(self._pending) >= _BLOCK:
            self._advance(final=False)

    def finish(self) -> None:
        self._advance(final=True)
        self.values = {k: np.concatenate(v) if v else np.zeros(0) for k, v in self._parts.items()}

    def _add(self, name: str, values: Floats) -> None:
        self._parts.setdefault(name, []).append(values)

    def _advance(self, *, final: bool) -> None:
        if self._pending:
            fresh = np.stack(self._pending).astype(np.float32)
            self._pending = []
            luma = fresh[:, : self.luma]
            self._add("brightness", luma.mean(axis=1, dtype=np.float64))
            self._add("lit", np.count_nonzero(luma > _BLACK_LUMA, axis=1) / self.luma)
            self._held = fresh if self._held is None else np.concatenate([self._held, fresh])
        if self._held is None:
            return
        received = self._base + len(self._held)
        upto = received if final else received - self._lag
        if upto > self._next:
            self._measure(self._next, upto, received)
            self._next = upto
        keep_from = max(self._base, self._next - self._lag - 1)
        self._held = self._held[keep_from - self._base :]
        self._base = keep_from

    def _measure(self, first: int, upto: int, received: int) -> None:
        """Measurements of frames first..upto-1, every frame they look at being held."""
        count = upto - first

        def rows(*offsets: int) -> slice:
            """The targets (rows from ``first``) whose frames n+offset all exist."""
            lo = max(first, *(-o for o in offsets))
            hi = min(upto, *(received - o for o in offsets))
            return slice(lo - first, max(lo, hi) - first)

        def at(targets: slice, offset: int) -> Block:
            """Frames n+offset for the targets."""
            assert self._held is not None
            start = first + targets.start + offset - self._base
            return self._held[start : start + targets.stop - targets.start]

        def at_rows(chosen: npt.NDArray[np.intp], offset: int) -> Block:
            """Frames n+offset for the chosen targets (rows from ``first``)."""
            assert self._held is not None
            return self._held[chosen + first + offset - self._base]

        here = at(slice(0, count), 0)
        jump = np.zeros(count)
        targets = rows(-1)
        jump[targets] = _distance(here[targets], at(targets, -1))
        self._add("jump", jump)
        back_after = np.full(count, math.inf)
        back_before = np.full(count, math.inf)
        steps = np.flatnonzero(jump >= _JUMP_SHARE * self.threshold)
        for k in range(1, self.flash_frames + 1):
            chosen = _within(steps, rows(-1, k))
            if len(chosen):
                distance = _distance(at_rows(chosen, -1), at_rows(chosen, k))
                back_after[chosen] = np.minimum(back_after[chosen], distance)
            chosen = _within(steps, rows(-1 - k))
            if len(chosen):
                distance = _distance(here[chosen], at_rows(chosen, -1 - k))
                back_before[chosen] = np.minimum(back_before[chosen], distance)
        self._add("back_after", back_after)
        self._add("back_before", back_before)
        for w in self.scales:
            span, weight, residual = (np.full(count, math.nan) for _ in range(3))
            targets = rows(-w, w)
            span[targets] = _distance(at(targets, w), at(targets, -w))
            with np.errstate(invalid="ignore"):
                chosen = np.flatnonzero(span >= _SPAN_SHARE * self.threshold)
            if len(chosen):
                start, end, middle = at_rows(chosen, -w), at_rows(chosen, w), here[chosen]
                change = end - start
                energy = np.einsum("ij,ij->i", change, change, dtype=np.float64)
                a = np.einsum("ij,ij->i", middle - start, change, dtype=np.float64)
                with np.errstate(invalid="ignore", divide="ignore"):
                    a = np.where(energy > 0, a / energy, math.nan)
                weight[chosen] = a
                residual[chosen] = _distance(middle, start + a[:, None].astype(np.float32) * change)
            self._add(f"span/{w}", span)
            self._add(f"weight/{w}", weight)
            self._add(f"residual/{w}", residual)


def _within(chosen: npt.NDArray[np.intp], targets: slice) -> npt.NDArray[np.intp]:
    kept: npt.NDArray[np.intp] = chosen[(chosen >= targets.start) & (chosen < targets.stop)]
    return kept


def _distance(a: Block, b: Block) -> Floats:
    distances: Floats = np.abs(a - b).mean(axis=1, dtype=np.float64) * _TO_PERCENT
    return distances
