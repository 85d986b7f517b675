"""What each stage computes, synchronously, from the fetched video on local disk (the job runs
these in a worker thread): the media and ai libraries called with the analysis's settings, and
their results turned into the JSON a stage stores (the shapes of ``schemas.py``), and back
where a later stage reads an earlier one's."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from v100.ai.audio import decode_pcm
from v100.ai.vad import VadSettings, speech_regions
from v100.media.active_speaker import active_speakers
from v100.media.audio_curves import audio_curves
from v100.media.face_tracks import FaceTrack, TrackedFace
from v100.media.faces import FaceBox
from v100.media.keyframes import Keyframe
from v100.media.motion import MotionSignals, motion_signals
from v100.media.probe import MediaInfo
from v100.media.scenes import Scene, SceneBoundary, SceneDetection, detect_scenes
from v100.media.video_signals import picture_signals

__all__ = ["Motion", "detect", "pictures", "signals", "speakers", "speech", "tracks"]

# Speech/silence for editing: pauses from half a second, regions padded by 100 ms (the
# transcription's VAD keeps 2 s pauses inside a region; cutting needs the shorter ones).
_SEGMENTS = VadSettings(min_silence_ms=500, pad_ms=100)


@dataclass(frozen=True, slots=True)
class Motion:
    """The signals stage's motion settings, for a pictures pass that reads the motion too."""

    interval: float
    sample_rate: float


def detect(src: Path, info: MediaInfo, threshold: float) -> dict[str, Any]:
    found = detect_scenes(src, info, threshold=threshold)
    return {
        "threshold": found.threshold,
        "frame_rate": found.frame_rate,
        "frame_count": found.frame_count,
        "boundaries": [dataclasses.asdict(b) for b in found.boundaries],
        "scenes": [dataclasses.asdict(s) for s in found.scenes],
    }


def _detection(data: dict[str, Any]) -> SceneDetection:
    return SceneDetection(
        boundaries=[SceneBoundary(**b) for b in data["boundaries"]],
        scenes=[Scene(**s) for s in data["scenes"]],
        frame_count=data["frame_count"],
        frame_rate=data["frame_rate"],
        threshold=data["threshold"],
    )


def pictures(
    src: Path,
    info: MediaInfo,
    scenes: dict[str, Any],
    *,
    keyframes: bool,
    faces: bool,
    sample_rate: float,
    motion: Motion | None = None,
) -> tuple[list[Keyframe], dict[str, Any] | None, MotionSignals | None]:
    """The keyframes, the face tracks (the faces stage's result) and, with ``motion`` (the
    signals stage's settings), the motion curve and the tracks' mouths, in one decoding
    pass."""
    found = picture_signals(
        src, info, _detection(scenes), keyframes=keyframes, faces=faces,
        face_sample_rate=sample_rate, motion=motion is not None,
        interval=motion.interval if motion else 0.5,
        motion_sample_rate=motion.sample_rate if motion else 8.0,
    )  # fmt: skip
    if not faces:
        return found.keyframes, None, found.motion
    tracks = [
        {
            "id": track.id,
            "start": track.start,
            "end": track.end,
            "faces": [
                {
                    "frame": f.frame,
                    "time": f.time,
                    "x": f.box.x,
                    "y": f.box.y,
                    "width": f.box.width,
                    "height": f.box.height,
                    "score": round(f.box.score, 3),
                    "view": f.box.view,
                }
                for f in track.faces
            ],
        }
        for track in found.face_tracks
    ]
    return found.keyframes, {"sample_rate": sample_rate, "tracks": tracks}, found.motion


def tracks(faces: dict[str, Any]) -> list[FaceTrack]:
    return [
        FaceTrack(
            track["id"],
            [
                TrackedFace(
                    f["frame"],
                    f["time"],
                    FaceBox(f["x"], f["y"], f["width"], f["height"], f["score"], f["view"]),
                )
                for f in track["faces"]
            ],
        )
        for track in faces["tracks"]
    ]


def speech(src: Path, scratch: Path, duration: float) -> dict[str, Any]:
    pcm = decode_pcm(src, scratch / "speech.f32")
    regions = speech_regions(pcm, _SEGMENTS)
    segments = [{"start": round(r.start_s, 3), "end": round(r.end_s, 3)} for r in regions]
    seconds = sum(s["end"] - s["start"] for s in segments)
    length = duration or pcm.duration
    return {
        "segments": segments,
        "speech_seconds": round(seconds, 3),
        "speech_ratio": round(min(1.0, seconds / length), 4) if length > 0 else 0.0,
    }


def signals(
    src: Path,
    info: MediaInfo,
    faces: dict[str, Any] | None,
    *,
    has_audio: bool,
    interval: float,
    sample_rate: float,
    motion: MotionSignals | None = None,
) -> dict[str, Any]:
    """Loudness and energy (with sound), the motion curve, and each face track's mouth
    activity (kept for the speakers stage) when the faces are known: ``motion`` when the
    pictures' pass read them (``pictures(..., motion=...)``), else a decoding pass here."""
    curves = audio_curves(src, interval=interval) if has_audio else None
    if motion is None:
        motion = motion_signals(
            src, info, tracks(faces) if faces else [], interval=interval, sample_rate=sample_rate
        )
    return {
        "interval": interval,
        "loudness": curves.loudness if curves else [],
        "energy": curves.energy if curves else [],
        "motion": motion.motion,
        "mouths": {
            str(track_id): [[round(t, 3), round(v, 3)] for t, v in samples]
            for track_id, samples in motion.mouths.items()
        },
    }


def speakers(signals: dict[str, Any], speech: dict[str, Any]) -> list[dict[str, Any]]:
    """The active speaker's turns (``schemas.ActiveSpeakerTurn``)."""
    mouths = {
        int(track_id): [(t, v) for t, v in samples]
        for track_id, samples in signals.get("mouths", {}).items()
    }
    segments = [(s["start"], s["end"]) for s in speech["segments"]]
    return [dataclasses.asdict(turn) for turn in active_speakers(mouths, segments)]
