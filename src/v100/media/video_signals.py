"""What a video analysis reads from the pictures after its scenes are known, in one decoding
pass: the keyframe of each scene (``KeyframePicker``), the face tracks (``FaceTracker``) and,
asked for, the motion curve and each track's mouth activity (``motion.MotionMeter``) all take
their frames from the same decode, converted at one size only where one of them wants the
frame. The mouths need a track's boxes on both sides of a sample (interpolated between the
faces found), so the motion samples wait in a short buffer until every track that may still
claim them has been seen again or has ended. Synchronous and CPU-bound: services run it in a
worker thread or process."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from pathlib import Path

from v100.media._encoding import DEFAULT_MAX_PIXELS, require_video
from v100.media._frames import PickedFrame, gray, pick_frames
from v100.media.face_tracks import FaceTrack, FaceTracker
from v100.media.keyframes import Keyframe, KeyframeFormat, KeyframePicker
from v100.media.motion import MotionMeter, MotionSignals, interpolated_box
from v100.media.probe import MediaInfo
from v100.media.scenes import SceneDetection

__all__ = ["PictureSignals", "picture_signals"]


@dataclass(frozen=True, slots=True)
class PictureSignals:
    keyframes: list[Keyframe]
    face_tracks: list[FaceTrack]
    # With ``motion=True``: what ``motion.motion_signals`` gives, read in the same pass.
    motion: MotionSignals | None = None


def picture_signals(
    src: str | Path,
    info: MediaInfo,
    detection: SceneDetection,
    *,
    keyframes: bool = True,
    faces: bool = True,
    motion: bool = False,
    max_width: int = 640,
    face_sample_rate: float = 2.0,
    motion_sample_rate: float = 8.0,
    interval: float = 0.5,
    image_format: KeyframeFormat = "jpeg",
    quality: int = 85,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> PictureSignals:
    """Keyframes (the sharpest of each scene of ``detection``, ``max_width`` wide at most),
    face tracks (faces looked for ``face_sample_rate`` times a second on the same pictures,
    tracks ending at the scene boundaries), either left out on request, and with ``motion``
    the motion curve per ``interval`` and the tracks' mouth activity, sampled
    ``motion_sample_rate`` times a second (``motion.motion_signals``'s, the same values)."""
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
    meter = (
        MotionMeter(info, interval=interval, sample_rate=motion_sample_rate, max_pixels=max_pixels)
        if motion
        else None
    )
    mouths = _Mouths(meter) if meter is not None and tracker is not None else None

    def wanted(index: int) -> bool:
        return bool(
            (picker is not None and picker.wanted(index))
            or (tracker is not None and tracker.wanted(index))
            or (meter is not None and meter.wanted(index))
        )

    for picked in pick_frames(src, wanted, max_width=max_width):
        if picker is not None and picker.wanted(picked.index):
            picker.offer(picked)
        sample: PickedFrame | None = None
        if meter is not None and meter.wanted(picked.index):
            sample = PickedFrame(picked.index, picked.time, gray(picked.pixels))
            meter.add(sample)
            if mouths is not None:
                mouths.hold(sample)
        if tracker is not None and tracker.wanted(picked.index):
            if sample is None:
                sample = PickedFrame(picked.index, picked.time, gray(picked.pixels))
            changed = tracker.add(sample)
            if mouths is not None:
                mouths.measure(changed, tracker.running())
    return PictureSignals(
        keyframes=picker.keyframes() if picker is not None else [],
        face_tracks=tracker.tracks() if tracker is not None else [],
        motion=(
            meter.result(tracker.numbering() if tracker is not None else {})
            if meter is not None
            else None
        ),
    )


class _Mouths:
    """Motion samples held until the tracks that may claim them are known on both sides: a
    track's mouths are measured on the samples up to its latest face once that face is found
    (the boxes between two faces are interpolated), and a sample is let go once no track
    still running is behind it."""

    def __init__(self, meter: MotionMeter) -> None:
        self._meter = meter
        self._held: deque[PickedFrame] = deque()
        # Per track (by the id it is fed under): the last frame its mouths were measured to.
        self._done: dict[int, int] = {}

    def hold(self, sample: PickedFrame) -> None:
        self._held.append(sample)

    def measure(self, tracks: list[FaceTrack], running: set[int]) -> None:
        """After a face sample: each of ``tracks`` (the tracker's, active before or after it)
        measured on the held samples up to its latest face; ``running``: the ids of those
        that may still find a face."""
        waiting = []
        for track in tracks:
            first, last = track.faces[0].frame, track.faces[-1].frame
            done = self._done.get(track.id, first - 1)
            if last > done:
                for sample in self._held:
                    if done < sample.index <= last:
                        box = interpolated_box(track, sample.index)
                        if box is not None:
                            self._meter.mouth(track.id, sample, box)
                self._done[track.id] = last
            if track.id in running:
                waiting.append(self._done[track.id])
        # Samples at or before every running track's last measured frame are no one's now
        # (tracks that start later start at a later face sample).
        keep_after = min(waiting, default=self._held[-1].index if self._held else -1)
        while self._held and self._held[0].index <= keep_after:
            self._held.popleft()
