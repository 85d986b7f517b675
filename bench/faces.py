"""Face detection (issue 16's figures): recall and precision of ``v100.media.faces.FaceDetector``
on frames this benchmark composes from scikit-image's astronaut (her head scaled and placed at
known positions, some mirrored, 0 to 3 per frame) on backgrounds of other scikit-image pictures,
textures, blurred noise and gradients; a find counts when its box overlaps a true face with an
IoU of 0.5 or more. By face size, with the CPU time per frame, for the default settings and
two others. Then tracking: faces moving across a video with a blind spell, counted in tracks
per face. Run by hand, not in CI:

    .venv/bin/python bench/faces.py [--frames 200]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import skimage.data

from v100.media import probe_sync
from v100.media.faces import FaceBox, FaceDetector, iou
from v100.media.scenes import detect_scenes
from v100.media.testing_faces import Placement, compose, make_face_video, placement_at
from v100.media.video_signals import picture_signals

WIDTH, HEIGHT = 640, 360
MIN_IOU = 0.5
SIZES = ((24, 48, "small 24-47 px"), (48, 96, "medium 48-95 px"), (96, 200, "large 96-180 px"))


def _backgrounds(rng: np.random.Generator) -> list[np.ndarray]:
    found = []
    for name in ("coffee", "rocket", "chelsea", "hubble_deep_field", "immunohistochemistry"):
        found.append(cv2.resize(getattr(skimage.data, name)(), (WIDTH, HEIGHT)))
    for name in ("brick", "grass", "gravel", "camera", "moon"):
        gray = cv2.resize(getattr(skimage.data, name)(), (WIDTH, HEIGHT))
        found.append(cv2.cvtColor(gray, cv2.COLOR_GRAY2RGB))
    noise = rng.integers(0, 255, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    found.append(cv2.GaussianBlur(noise, (15, 15), 5))
    ramp = np.linspace(0, 255, WIDTH, dtype=np.uint8)[None, :, None]
    found.append(np.repeat(np.repeat(ramp, HEIGHT, axis=0), 3, axis=2))
    return found


def _frames(count: int, seed: int = 16) -> list[tuple[np.ndarray, list[tuple[int, int, int, int]]]]:
    """Frames with up to three heads each, not overlapping, wholly inside the frame."""
    rng = np.random.default_rng(seed)
    backgrounds = _backgrounds(rng)
    frames = []
    for _ in range(count):
        placements: list[Placement] = []
        for _ in range(int(rng.integers(0, 4))):
            face = int(rng.integers(24, 181))
            scale = face / 96
            width = round(224 * scale)
            for _ in range(20):  # a free spot, or none
                x = int(rng.integers(-round(40 * scale), max(1, WIDTH - width + round(40 * scale))))
                y = int(rng.integers(-round(30 * scale), max(1, HEIGHT - round(160 * scale))))
                spot = Placement(x, y, face, mirrored=bool(rng.integers(0, 2)))
                box = _box(spot.box())
                inside = box.x >= 0 and box.y >= 0 and box.x + box.width <= WIDTH
                inside = inside and box.y + box.height <= HEIGHT
                apart = all(not _overlap(spot, other) for other in placements)
                if inside and apart:
                    placements.append(spot)
                    break
        background = backgrounds[int(rng.integers(0, len(backgrounds)))]
        frames.append(compose(background, placements))
    return frames


def _overlap(a: Placement, b: Placement) -> bool:
    """Whether two pasted heads would cover each other's face."""
    ax, ay = a.x, a.y
    aw, ah = round(224 * a.face / 96), round(256 * a.face / 96)
    bx, by = b.x, b.y
    bw, bh = round(224 * b.face / 96), round(256 * b.face / 96)
    return ax < bx + bw and bx < ax + aw and ay < by + bh and by < ay + ah


def _box(box: tuple[int, int, int, int]) -> FaceBox:
    return FaceBox(*box, score=0.0, view="truth")


def _measure(detector: FaceDetector, frames: list[Any]) -> dict[str, Any]:
    hits = {label: [0, 0] for *_, label in SIZES}
    true_found = found = kept = 0
    cpu = []
    for frame, truth in frames:
        gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        started = time.process_time()
        boxes = detector.detect(gray)
        cpu.append(time.process_time() - started)
        found += len(boxes)
        used: set[int] = set()
        for t in truth:
            bucket = next(label for low, high, label in SIZES if low <= t[3] < high)
            hits[bucket][1] += 1
            best = max(range(len(boxes)), key=lambda i: iou(_box(t), boxes[i]), default=None)
            if best is not None and best not in used and iou(_box(t), boxes[best]) >= MIN_IOU:
                used.add(best)
                hits[bucket][0] += 1
                true_found += 1
        kept += len(used)
    truths = sum(n for _, n in hits.values())
    return {
        "recall": true_found / truths if truths else 0.0,
        "precision": kept / found if found else 1.0,
        "false": found - kept,
        "by_size": {k: f"{h}/{n}" for k, (h, n) in hits.items()},
        "cpu_ms": 1000 * statistics.median(cpu),
        "truths": truths,
    }


def _tracking(scratch: Path) -> dict[str, Any]:
    left = (Placement(0, 20, 70), Placement(200, 60, 70))
    right = (Placement(440, 140, 56, mirrored=True), Placement(280, 80, 56, mirrored=True))
    moves = [left, right]
    seconds = 8.0
    source = make_face_video(
        scratch / "moving.mp4", moves, seconds=seconds, background="testsrc2", hidden=(3.0, 3.4)
    )
    info = probe_sync(source)
    detection = replace(detect_scenes(source, info), boundaries=[])
    started = time.perf_counter()
    tracks = picture_signals(source, info, detection, keyframes=False).face_tracks
    elapsed = time.perf_counter() - started
    on_track = 0
    samples = 0
    for track in tracks:
        for face in track.faces:
            samples += 1
            truth = [_box(placement_at(m, face.time, seconds).box()) for m in moves]
            on_track += max(iou(face.box, t) for t in truth) >= MIN_IOU
    return {
        "faces": len(moves),
        "tracks": len(tracks),
        "spans": [(round(t.start, 2), round(t.end, 2), len(t.faces)) for t in tracks],
        "boxes_on_a_true_face": f"{on_track}/{samples}",
        "seconds": elapsed,
        "video_seconds": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=200)
    args = parser.parse_args()
    frames = _frames(args.frames)
    faces = sum(len(t) for _, t in frames)
    cv2.setNumThreads(1)  # one core per analysis, as a worker runs it
    print(
        f"{len(frames)} composed frames at {WIDTH}x{HEIGHT}, {faces} faces; "
        f"{len(os.sched_getaffinity(0))} cores, load average {os.getloadavg()[0]:.1f}; "
        f"IoU >= {MIN_IOU}; OpenCV {cv2.__version__}, one thread"
    )
    settings = {
        "default (scale 1.15, neighbours 5)": FaceDetector(),
        "finer (scale 1.1, neighbours 5)": FaceDetector(scale_factor=1.1),
        "looser (scale 1.15, neighbours 3)": FaceDetector(min_neighbors=3),
    }
    for label, detector in settings.items():
        r = _measure(detector, frames)
        print(
            f"{label:36s} recall {r['recall']:.3f} precision {r['precision']:.3f} "
            f"({r['false']} false finds; recall by face height {r['by_size']}); "
            f"median CPU {r['cpu_ms']:.0f} ms/frame"
        )
    with tempfile.TemporaryDirectory(prefix="faces-bench-") as scratch:
        t = _tracking(Path(scratch))
    print(
        f"tracking: {t['faces']} faces moving for {t['video_seconds']:.0f} s (hidden 0.4 s "
        f"midway), sampled 2/s: {t['tracks']} tracks {t['spans']} (start s, end s, samples); "
        f"boxes on a true face {t['boxes_on_a_true_face']}; {t['seconds']:.1f} s"
    )


if __name__ == "__main__":
    main()
