"""A video analysis without transcription on a 10-minute 720p video (issue 16's figure: under
0.5x real time on these 2 cores), the stages as the video_analysis service runs them: scenes
(``detect_scenes``), keyframes, face tracks, motion and mouths in one more decoding pass
(``picture_signals(..., motion=True)``), speech segments (decoded PCM and Silero VAD),
loudness and energy (``audio_curves``) and the active speaker, with the wall and CPU time of
each. ``--compare`` also runs, on the same video in the same run, the way it was before the
motion was folded into the faces' pass (keyframes and faces, then ``motion_signals`` decoding
the video a third time), checks both give the same values, and prints the ratios.
The video is made here with FFmpeg: a one-minute reel (two faces moving over a test card, test
patterns, still pictures panned across, a cellular automaton; joined by cuts, fades and
dissolves) played ten times, with a tone that pauses. Run by hand, not in CI:

    .venv/bin/python bench/video_signals.py [--minutes 10] [--compare]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import skimage.data
import skimage.io

from v100.ai.audio import decode_pcm
from v100.ai.vad import VadSettings, speech_regions
from v100.media import ffmpeg_path, probe_sync
from v100.media.active_speaker import active_speakers
from v100.media.audio_curves import audio_curves
from v100.media.motion import motion_signals
from v100.media.scenes import detect_scenes
from v100.media.testing_faces import Placement, make_face_video
from v100.media.testing_scenes import Join, Shot, make_shots
from v100.media.video_signals import picture_signals

SEGMENTS = VadSettings(min_silence_ms=500, pad_ms=100)  # the service's (analysers.py)
WIDTH, HEIGHT, FPS = 1280, 720, 25
TARGET = 0.5  # of real time, for the whole analysis without transcription


def _reel(scratch: Path) -> tuple[Path, int]:
    """One minute of 720p and the number of boundaries in it."""
    images = {}
    for name in ("coffee", "rocket"):
        images[name] = scratch / f"{name}.png"
        skimage.io.imsave(images[name], getattr(skimage.data, name)(), check_contrast=False)
    talk = make_face_video(
        scratch / "talk.mp4",
        [(Placement(200, 120, 200), Placement(320, 140, 200)),
         (Placement(900, 200, 160, mirrored=True), Placement(820, 180, 160, mirrored=True))],
        seconds=16, width=WIDTH, height=HEIGHT, fps=FPS, background="testsrc2",
    )  # fmt: skip
    shots = [Shot(f"video:{talk}", 15), Shot("testsrc2", 8), Shot(f"image:{images['coffee']}", 7),
             Shot("life=ratio=0.3:mold=10", 6), Shot("smptebars", 5),
             Shot(f"image:{images['rocket']}", 8), Shot(f"video:{talk}", 13)]  # fmt: skip
    joins = [Join("cut"), Join("dissolve", 1.0), Join("cut"), Join("fade", 1.0), Join("cut"),
             Join("dissolve", 0.6)]  # fmt: skip
    reel = scratch / "reel.mp4"
    make_shots(reel, shots, joins, width=WIDTH, height=HEIGHT, fps=FPS, preset="veryfast")
    return reel, len(joins)


def _repeat(reel: Path, times: int, scratch: Path) -> Path:
    listing = scratch / "list.txt"
    listing.write_text("".join(f"file '{reel}'\n" for _ in range(times)))
    video = scratch / "video.mp4"
    # A sound track too (a tone with pauses: the sound stages' cost, not their findings).
    tone = "sine=frequency=220:sample_rate=44100,volume='if(lt(mod(t,4),3),1,0)':eval=frame"
    subprocess.run(
        [ffmpeg_path(), "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(listing),
         "-f", "lavfi", "-i", tone, "-map", "0:v", "-map", "1:a", "-shortest",
         "-c:v", "copy", "-c:a", "aac", str(video)],
        check=True,
    )  # fmt: skip
    return video


def _cpu() -> float:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def _timed(step: Any) -> tuple[Any, float, float]:
    started, started_cpu = time.perf_counter(), _cpu()
    result = step()
    return result, time.perf_counter() - started, _cpu() - started_cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=int, default=10)
    parser.add_argument("--compare", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="signals-bench-") as scratch_name:
        scratch = Path(scratch_name)
        started = time.perf_counter()
        reel, per_reel = _reel(scratch)
        video = _repeat(reel, args.minutes, scratch)
        made = time.perf_counter() - started
        info = probe_sync(video)
        detection, scenes_s, scenes_cpu = _timed(lambda: detect_scenes(video, info))
        before = None
        if args.compare:
            # As it was, first: keyframes and faces in one pass, motion and mouths in a third.
            plain, plain_s, plain_cpu = _timed(lambda: picture_signals(video, info, detection))
            alone, alone_s, alone_cpu = _timed(
                lambda: motion_signals(video, info, plain.face_tracks)
            )
            before = (plain_s, plain_cpu, alone_s, alone_cpu)
        signals, pictures_s, pictures_cpu = _timed(
            lambda: picture_signals(video, info, detection, motion=True)
        )
        motion = signals.motion
        assert motion is not None
        if before is not None:
            assert plain.face_tracks == signals.face_tracks
            assert alone == motion, "the folded pass read other motion or mouths"
        regions, speech_s, speech_cpu = _timed(
            lambda: speech_regions(decode_pcm(video, scratch / "pcm.f32"), SEGMENTS)
        )
        curves, curves_s, curves_cpu = _timed(lambda: audio_curves(video))
        speech = [(r.start_s, r.end_s) for r in regions]
        turns, speakers_s, speakers_cpu = _timed(lambda: active_speakers(motion.mouths, speech))
    total = scenes_s + pictures_s + speech_s + curves_s + speakers_s
    cpu = scenes_cpu + pictures_cpu + speech_cpu + curves_cpu + speakers_cpu
    ratio = total / info.duration
    print(
        f"{info.duration:.0f} s of {WIDTH}x{HEIGHT} at {FPS} fps (H.264 veryfast, "
        f"{info.size / 1e6:.0f} MB), made in {made:.0f} s; {len(os.sched_getaffinity(0))} "
        f"cores, load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"scenes:                {scenes_s:6.1f} s wall, {scenes_cpu:6.1f} s CPU "
        f"({detection.frame_count / scenes_s:.0f} frames/s): {len(detection.boundaries)} "
        f"boundaries ({args.minutes * per_reel} made, {args.minutes - 1} joins between reels "
        f"also cut)"
    )
    print(
        f"keyframes + faces + motion + mouths (one pass): {pictures_s:6.1f} s wall, "
        f"{pictures_cpu:6.1f} s CPU: {len(signals.keyframes)} keyframes, "
        f"{len(signals.face_tracks)} face tracks, {len(motion.motion)} motion values"
    )
    print(
        f"speech segments:       {speech_s:6.1f} s wall, {speech_cpu:6.1f} s CPU: "
        f"{len(regions)} segments"
    )
    print(
        f"loudness + energy:     {curves_s:6.1f} s wall, {curves_cpu:6.1f} s CPU: "
        f"{len(curves.loudness)} values each"
    )
    print(f"active speaker:        {speakers_s:6.1f} s wall, {speakers_cpu:6.1f} s CPU: "
          f"{len(turns)} turns")  # fmt: skip
    verdict = "met" if ratio < TARGET else "MISSED"
    print(
        f"total:                 {total:6.1f} s wall, {cpu:6.1f} s CPU = "
        f"{ratio:.2f}x real time wall, {cpu / info.duration:.2f}x CPU "
        f"(target < {TARGET}x: {verdict})"
    )
    if before is not None:
        plain_s, plain_cpu, alone_s, alone_cpu = before
        old_total = total - pictures_s + plain_s + alone_s
        old_cpu = cpu - pictures_cpu + plain_cpu + alone_cpu
        print(
            f"before (same run): keyframes + faces {plain_s:.1f} s wall, {plain_cpu:.1f} s CPU; "
            f"motion + mouths in a third pass {alone_s:.1f} s wall, {alone_cpu:.1f} s CPU; "
            f"total {old_total:.1f} s wall ({old_total / info.duration:.2f}x real time), "
            f"{old_cpu:.1f} s CPU ({old_cpu / info.duration:.2f}x)"
        )
        print(
            f"before/after: CPU {old_cpu / cpu:.2f}x, wall {old_total / total:.2f}x "
            f"(the same motion and mouths, value for value); load average "
            f"{os.getloadavg()[0]:.1f}"
        )


if __name__ == "__main__":
    main()
