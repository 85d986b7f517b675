"""Pictures and videos with faces at known places, for the face tests and benchmark: the head
of scikit-image's astronaut (a development dependency, imported on use) scaled and placed on
generated backgrounds; ``compose`` returns the frame with the true face boxes, and
``make_face_video`` moves faces across an FFmpeg-made background, with their boxes over time."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from v100.media.testing import _ffmpeg

__all__ = ["HEAD_FACE", "Placement", "compose", "head", "make_face_video", "placement_at"]

Pixels = npt.NDArray[np.uint8]
# The head and shoulders cut from astronaut() (512x512): rows and columns.
_HEAD_ROWS, _HEAD_COLS = (16, 272), (112, 336)
# The face inside that cut (x, y, width, height), as a frontal detector frames it.
HEAD_FACE = (64, 50, 96, 96)


def head(*, mirrored: bool = False) -> Pixels:
    """The astronaut's head and shoulders (256 tall, 224 wide, RGB)."""
    import skimage.data

    astronaut: Pixels = skimage.data.astronaut()  # type: ignore[no-untyped-call]
    picture = astronaut[slice(*_HEAD_ROWS), slice(*_HEAD_COLS)]
    return np.ascontiguousarray(picture[:, ::-1] if mirrored else picture)


@dataclass(frozen=True, slots=True)
class Placement:
    # Where the head's top-left corner goes, and the face's height in pixels.
    x: int
    y: int
    face: int
    mirrored: bool = False

    def box(self) -> tuple[int, int, int, int]:
        scale = self.face / HEAD_FACE[3]
        fx = HEAD_FACE[0] if not self.mirrored else _width() - HEAD_FACE[0] - HEAD_FACE[2]
        return (
            self.x + round(fx * scale),
            self.y + round(HEAD_FACE[1] * scale),
            round(HEAD_FACE[2] * scale),
            round(HEAD_FACE[3] * scale),
        )


def _width() -> int:
    return _HEAD_COLS[1] - _HEAD_COLS[0]


def compose(
    background: Pixels, placements: Sequence[Placement]
) -> tuple[Pixels, list[tuple[int, int, int, int]]]:
    """The background (RGB) with a head pasted at each placement (clipped at the edges), and
    the true face boxes of those whose face lies wholly inside."""
    import cv2

    frame = background.copy()
    boxes = []
    for place in placements:
        scale = place.face / HEAD_FACE[3]
        picture = cv2.resize(
            head(mirrored=place.mirrored),
            (round(_width() * scale), round((_HEAD_ROWS[1] - _HEAD_ROWS[0]) * scale)),
            interpolation=cv2.INTER_AREA,
        )
        top, left = max(0, place.y), max(0, place.x)
        bottom = min(frame.shape[0], place.y + picture.shape[0])
        right = min(frame.shape[1], place.x + picture.shape[1])
        if bottom <= top or right <= left:
            continue
        frame[top:bottom, left:right] = picture[
            top - place.y : bottom - place.y, left - place.x : right - place.x
        ]
        x, y, w, h = place.box()
        if x >= 0 and y >= 0 and x + w <= frame.shape[1] and y + h <= frame.shape[0]:
            boxes.append((x, y, w, h))
    return frame, boxes


def make_face_video(
    path: str | Path,
    moves: Sequence[tuple[Placement, Placement]],
    *,
    seconds: float = 4.0,
    width: int = 640,
    height: int = 360,
    fps: int = 25,
    background: str = "smptebars",
    hidden: tuple[float, float] | None = None,
    audio: str | None = None,
) -> Path:
    """A video of ``seconds`` on a lavfi ``background`` with one head per move, going in a
    straight line from its first placement to its second (same size). ``hidden`` (start,
    end) covers every head with a grey box for that stretch, as a detector's blind spell.
    ``audio`` is a lavfi audio source (e.g. ``"sine=frequency=440"``) for an AAC track.
    Face boxes at time t are those of ``placement_at``."""
    import cv2

    path = Path(path)
    args = [
        "-f",
        "lavfi",
        "-t",
        f"{seconds}",
        "-i",
        f"{background}=size={width}x{height}:rate={fps}",
    ]
    chains = []
    label = "0:v"
    for i, (start, end) in enumerate(moves, start=1):
        still = path.with_name(f"{path.stem}.head{i}.png")
        scale = start.face / HEAD_FACE[3]
        picture = cv2.resize(
            head(mirrored=start.mirrored),
            (round(_width() * scale), round((_HEAD_ROWS[1] - _HEAD_ROWS[0]) * scale)),
            interpolation=cv2.INTER_AREA,
        )
        cv2.imwrite(str(still), cv2.cvtColor(picture, cv2.COLOR_RGB2BGR))
        args += ["-i", str(still)]
        x = f"{start.x}+({end.x - start.x})*t/{seconds}"
        y = f"{start.y}+({end.y - start.y})*t/{seconds}"
        chains.append(f"[{label}][{i}:v]overlay=x='{x}':y='{y}':eval=frame[o{i}]")
        label = f"o{i}"
    if hidden is not None:
        chains.append(
            f"[{label}]drawbox=color=gray:t=fill:enable='between(t,{hidden[0]},{hidden[1]})'[o]"
        )
        label = "o"
    if audio is not None:
        args += ["-f", "lavfi", "-t", f"{seconds}", "-i", audio]
    args += ["-filter_complex", ";".join(chains), "-map", f"[{label}]", "-t", f"{seconds}"]
    args += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    if audio is not None:
        args += ["-map", f"{len(moves) + 1}:a", "-c:a", "aac"]
    _ffmpeg(*args, str(path))
    return path


def placement_at(move: tuple[Placement, Placement], t: float, seconds: float) -> Placement:
    """Where a head of ``make_face_video`` is at time ``t``."""
    start, end = move
    share = t / seconds
    return Placement(
        round(start.x + (end.x - start.x) * share),
        round(start.y + (end.y - start.y) * share),
        start.face,
        start.mirrored,
    )
