"""Talking heads at known places and times, for the active-speaker tests and benchmark: still
heads (``testing_faces``: scikit-image's astronaut, a development dependency) on a plain
background, each given a mouth (a dark ellipse) that opens with the loudness of its own lines
(recordings made by the caller, e.g. espeak-ng) and stays shut while another head talks. Returns
the true turns (start, end, head) and the heads' face boxes."""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from v100.media._ffmpeg import ffmpeg_path
from v100.media.testing import _ffmpeg
from v100.media.testing_faces import Placement, compose

__all__ = ["TalkingVideo", "make_talking_video", "two_heads"]

_RATE = 16_000


@dataclass(frozen=True, slots=True)
class TalkingVideo:
    path: Path
    # (start, end, head index) of each line, in seconds.
    turns: list[tuple[float, float, int]]
    boxes: list[tuple[int, int, int, int]]
    duration: float


def two_heads(width: int = 640, height: int = 360) -> list[Placement]:
    """Two heads side by side, their faces a third of the picture's height."""
    face = height // 3
    return [
        Placement(width // 16, height // 6, face),
        Placement(width // 2 + width // 16, height // 6, face, mirrored=True),
    ]


def _samples(recording: Path, scratch: Path) -> np.ndarray:
    raw = scratch / f"{recording.stem}.f32"
    _ffmpeg("-i", str(recording), "-ac", "1", "-ar", str(_RATE), "-f", "f32le", str(raw))
    return np.fromfile(raw, dtype="<f4")


def make_talking_video(
    path: str | Path,
    lines: Sequence[tuple[Path, int]],
    *,
    heads: Sequence[Placement] | None = None,
    gap: float = 1.0,
    width: int = 640,
    height: int = 360,
    fps: int = 25,
    mouth: float = 1.0,
) -> TalkingVideo:
    """``lines`` (a recording, the index of the head saying it; -1 a voice off screen) one
    after another, ``gap`` seconds of silence before each and after the last; ``mouth`` scales
    how wide a mouth opens (1: a tenth of the face's height at the loudest); H.264 and AAC in
    MP4."""
    import cv2

    path = Path(path)
    placements = list(heads or two_heads(width, height))
    background = np.full((height, width, 3), 70, dtype=np.uint8)
    background[:, :, 2] = np.linspace(60, 140, width, dtype=np.uint8)[None, :]
    still, _ = compose(background, placements)
    boxes = [place.box() for place in placements]
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        silence = np.zeros(round(gap * _RATE), dtype=np.float32)
        audio, owner, turns = [silence], [np.full(silence.size, -1)], []
        at = silence.size
        for recording, head in lines:
            said = _samples(recording, scratch)
            turns.append((at / _RATE, (at + said.size) / _RATE, head))
            audio += [said, silence]
            owner += [np.full(said.size, head), np.full(silence.size, -1)]
            at += said.size + silence.size
        pcm, speaker = np.concatenate(audio), np.concatenate(owner)
        (scratch / "audio.f32").write_bytes(pcm.astype("<f4").tobytes())
        per_frame = _RATE // fps
        frames = pcm.size // per_frame
        loudness = np.sqrt((pcm[: frames * per_frame].reshape(frames, per_frame) ** 2).mean(axis=1))
        peak = float(loudness.max()) or 1.0
        command = [
            ffmpeg_path(), "-hide_banner", "-nostdin", "-y", "-loglevel", "error",
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", str(fps),
            "-i", "-", "-f", "f32le", "-ar", str(_RATE), "-ac", "1",
            "-i", str(scratch / "audio.f32"), "-c:v", "libx264", "-preset", "ultrafast",
            "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(path),
        ]  # fmt: skip
        encoder = subprocess.Popen(command, stdin=subprocess.PIPE, stderr=subprocess.PIPE)  # noqa: S603
        assert encoder.stdin is not None
        for index in range(frames):
            frame = still.copy()
            head = int(speaker[index * per_frame + per_frame // 2])
            for number, (x, y, w, h) in enumerate(boxes):
                openness = min(1.0, 2.0 * float(loudness[index]) / peak) if number == head else 0.0
                centre = (x + w // 2, y + round(0.8 * h))
                axes = (max(1, round(0.17 * w)), max(1, round(0.1 * h * openness * mouth)))
                if openness > 0.05:
                    cv2.ellipse(frame, centre, axes, 0, 0, 360, (60, 20, 25), -1)
            encoder.stdin.write(frame.tobytes())
        encoder.stdin.close()
        stderr = encoder.stderr.read() if encoder.stderr is not None else b""
        if encoder.wait() != 0:
            raise RuntimeError(f"FFmpeg failed: {stderr.decode('utf-8', 'replace')[-500:]}")
    return TalkingVideo(path, turns, boxes, frames / fps)
