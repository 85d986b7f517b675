"""What a video analysis reads from the pictures after its scenes are known, in one decoding
pass: the keyframe of each scene (``KeyframePicker``) and the face tracks (``FaceTracker``)
both take their frames from the same decode, converted at one size only where one of them
wants the frame. Synchronous and CPU-bound: services run it in a worker thread or process."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from v100.media._encoding import DEFAULT_MAX_PIXELS, require_video
from v100.media._frames import PickedFrame, gray, pick_frames
from v100.media.face_tracks import FaceTrack, FaceTracker
from v100.media.keyframes import Keyframe, KeyframeFormat, KeyframePicker
from v100.media.probe import MediaInfo
from v100.media.scenes import SceneDetection

__all__ = ["PictureSignals", "picture_signals"]


@dataclass(frozen=True, slots=True)
class PictureSignals:
    keyframes: list[Keyframe]
    face_tracks: list[FaceTrack]


def picture_signals(
    src: str | Path,
    info: MediaInfo,
    detection: SceneDetection,
    *,
    keyframes: bool = True,
    faces: bool = True,
    max_width: int = 640,
    face_sample_rate: float = 2.0,
    image_format: KeyframeFormat = "jpeg",
    quality: int = 85,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> PictureSignals:
    """Keyframes (the sharpest of each scene of ``detection``, ``max_width`` wide at most)
    and face tracks (faces looked for ``face_sample_rate`` times a second on the same
    pictures, tracks ending at the scene boundaries), either left out on request."""
    require_video(info, max_pixels=max_pixels)
    picker = (
        KeyframePicker(detection, image_format=image_format, quality=quality) if keyframes else None
    )
    tracker = (
        FaceTracker(
            info,
            sample_rate=face_sample_rate,
            boundaries=[b.frame for b in detection.boundaries],
            max_pixels=max_pixels,
        )
        if faces
        else None
    )

    def wanted(index: int) -> bool:
        return bool(
            (picker is not None and picker.wanted(index))
            or (tracker is not None and tracker.wanted(index))
        )

    for picked in pick_frames(src, wanted, max_width=max_width):
        if picker is not None and picker.wanted(picked.index):
            picker.offer(picked)
        if tracker is not None and tracker.wanted(picked.index):
            tracker.add(PickedFrame(picked.index, picked.time, gray(picked.pixels)))
    return PictureSignals(
        keyframes=picker.keyframes() if picker is not None else [],
        face_tracks=tracker.tracks() if tracker is not None else [],
    )
