"""The active speaker (issue 16: "which face track talks when"): how much of the speech
``v100.media.active_speaker`` gives to the face that says it, on talking-heads videos this
benchmark makes (``media.testing_speakers``: scikit-image's astronaut twice, mouths opening
with the loudness of espeak-ng lines), through the service's own chain: scenes, face tracks,
mouth activity (``media.motion``), speech segments (Silero VAD, the service's settings) and the
matching. Cases: turns with one-second gaps, short gaps, smaller faces, subtle mouths, a voice
off screen. Per case: the share of the speech given to the right face, to a wrong one, to none;
and the CPU time of the motion pass per second of video. Run by hand, not in CI:

    .venv/bin/python bench/active_speaker.py
"""

from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from v100.ai.audio import load_pcm
from v100.ai.testing import make_speech
from v100.ai.vad import VadSettings, speech_regions
from v100.media import probe_sync
from v100.media.active_speaker import active_speakers
from v100.media.motion import motion_signals
from v100.media.scenes import detect_scenes
from v100.media.testing_speakers import make_talking_video, two_heads
from v100.media.video_signals import picture_signals

LINES = (
    "The quick brown fox jumps over the lazy dog.",
    "We meet every morning to plan the work of the day.",
    "Numbers matter: three hundred and twelve people signed up last week.",
    "Would you rather have a short meeting or a long email?",
)
SEGMENTS = VadSettings(min_silence_ms=500, pad_ms=100)  # the service's (analysers.py)


@dataclass(frozen=True)
class Case:
    name: str
    heads: list[int]
    gap: float = 1.0
    face_share: int = 3  # a face is 1/face_share of the picture's height
    mouth: float = 1.0


CASES = (
    Case("alternating, 1 s gaps", [0, 1, 0, 1]),
    Case("alternating, 0.3 s gaps", [0, 1, 0, 1], gap=0.3),
    Case("smaller faces (1/6 height)", [0, 1, 1, 0], face_share=6),
    Case("subtle mouths (x0.3)", [1, 0, 1, 0], mouth=0.3),
    Case("a voice off screen", [0, -1, 1, -1]),
)


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> float:
    return max(0.0, min(a[1], b[1]) - max(a[0], b[0]))


def run(case: Case, scratch: Path) -> dict[str, float]:
    lines = [
        (make_speech(scratch / f"{case.name[:5]}{i}.wav", LINES[i % 4], pitch=30 + 40 * (h % 2)),
         h)
        for i, h in enumerate(case.heads)
    ]  # fmt: skip
    placements = two_heads()
    if case.face_share != 3:
        face = 360 // case.face_share
        placements = [type(p)(p.x + 40, p.y + 60, face, p.mirrored) for p in placements]
    video = make_talking_video(
        scratch / "talk.mp4", lines, heads=placements, gap=case.gap, mouth=case.mouth
    )
    info = probe_sync(video.path)
    detection = detect_scenes(video.path, info)
    tracks = picture_signals(video.path, info, detection, keyframes=False).face_tracks
    started = time.process_time()
    motion = motion_signals(video.path, info, tracks)
    cpu = time.process_time() - started
    speech = [(r.start_s, r.end_s) for r in speech_regions(load_pcm(video.path), SEGMENTS)]
    turns = active_speakers(motion.mouths, speech)
    # Which head each track is: the nearest box.
    head_of = {
        t.id: min(range(len(video.boxes)), key=lambda h: abs(video.boxes[h][0] - t.faces[0].box.x))
        for t in tracks
    }
    on_screen = sum(e - s for s, e, h in video.turns if h >= 0)
    off_screen = sum(e - s for s, e, h in video.turns if h < 0)
    right = wrong = 0.0
    for turn in turns:
        for start, end, head in video.turns:
            shared = _overlap((turn.start, turn.end), (start, end))
            if head_of.get(turn.track_id) == head:
                right += shared
            else:
                wrong += shared
    return {
        "tracks": len(tracks),
        "right": right / on_screen if on_screen else 0.0,
        "wrong": wrong / (on_screen + off_screen),
        "none": max(0.0, 1 - (right + wrong) / (on_screen + off_screen)),
        "cpu_per_s": cpu / video.duration,
    }


def main() -> None:
    print(f"{'case':32} {'tracks':>6} {'right':>7} {'wrong':>7} {'none':>7} {'motion CPU/s':>12}")
    rows = []
    for case in CASES:
        with tempfile.TemporaryDirectory() as scratch:
            row = run(case, Path(scratch))
        rows.append(row)
        print(
            f"{case.name:32} {row['tracks']:>6} {row['right']:>7.3f} {row['wrong']:>7.3f} "
            f"{row['none']:>7.3f} {row['cpu_per_s']:>11.3f}s"
        )
    print(
        f"median share right (on-screen speech): {statistics.median(r['right'] for r in rows):.3f}"
    )


if __name__ == "__main__":
    main()
