"""Scene detection (issue 16's figures): precision, recall and F1 with a tolerance of one frame
on clips this benchmark makes with FFmpeg (hard cuts, fades through black, dissolves, camera
flashes, fast motion) with known boundaries, for ``v100.media.detect_scenes`` and, in the same
run on the same files, PySceneDetect's ContentDetector and AdaptiveDetector at their defaults;
and the time each takes (target: F1 at least PySceneDetect's best, at least 2x faster). Run by
hand, not in CI:

    .venv/bin/python bench/scenes.py [--runs 1] [--scenedetect-python /work/bench-venv/bin/python]
        [--clips DIR]

``--clips DIR`` keeps the clips in DIR (with their true boundaries in ``clips.json``) and
reuses them on the next run, so runs can be compared on the very same files (x264's threads
make each fresh set differ slightly).

PySceneDetect is not a dependency of the project: it runs in a virtual environment of its own,
made once with

    python3 -m venv /work/bench-venv
    /work/bench-venv/bin/pip install scenedetect opencv-python-headless

and named by ``--scenedetect-python`` (or ``V100_BENCH_SCENEDETECT_PYTHON``); without it the
benchmark measures ours alone. A flash counts against a detector when it reports a boundary on
or next to the flashed frames."""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TOLERANCE = 1  # frames
# A second reading, for where a gradual transition is placed rather than whether it is found.
LOOSE_SECONDS = 0.2
WIDTH, HEIGHT, FPS = 640, 360, 25


@dataclass
class Clip:
    name: str
    path: Path
    truth: list[tuple[int, str]]  # (frame, kind)
    flashes: list[tuple[int, int]]  # (first, last) flashed frames
    frames: int


def _make_clips(scratch: Path) -> list[Clip]:
    import skimage.data
    import skimage.io

    from v100.media.testing_scenes import Flash, Join, Shot, make_shots

    images = {}
    names = ["astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry",
             "hubble_deep_field", "colorwheel", "retina", "camera", "moon"]  # fmt: skip
    for name in names:
        images[name] = scratch / f"{name}.png"
        skimage.io.imsave(images[name], getattr(skimage.data, name)(), check_contrast=False)

    def img(name: str, seconds: float) -> Shot:
        return Shot(f"image:{images[name]}", seconds)

    def src(source: str, seconds: float) -> Shot:
        return Shot(source, seconds)

    life = "life=ratio=0.3:mold=10:life_color=yellow:death_color=navy"
    cellauto = "cellauto=rule=110:scroll=1"
    specs: dict[str, tuple[list[Shot], list[Join], tuple[Flash, ...]]] = {
        "cuts": (
            [
                src("testsrc2", 3),
                img("astronaut", 2.5),
                src("smptebars", 2),
                img("coffee", 3),
                src("mandelbrot", 2.5),
                img("chelsea", 2),
                src("color=c=teal", 1.5),
                img("rocket", 3),
                src(life, 2.5),
                img("immunohistochemistry", 2),
                src("testsrc", 2),
                img("hubble_deep_field", 3),
                src(cellauto, 2),
            ],
            [Join("cut")] * 12,
            (),
        ),
        "fades": (
            [
                img("astronaut", 3),
                src("testsrc2", 3),
                img("coffee", 3),
                src("mandelbrot", 3),
                img("rocket", 3),
                src("smptebars", 3),
                img("chelsea", 3),
                src("rgbtestsrc", 3),
            ],
            [
                Join("fade", 1.0),
                Join("fade_hold", 0.4),
                Join("fade", 0.6),
                Join("fade_hold", 1.0),
                Join("fade", 2.0),
                Join("fade_hold", 0.2),
                Join("fade", 1.0),
            ],
            (),
        ),
        "dissolves": (
            [
                img("astronaut", 3),
                src("testsrc2", 3),
                img("coffee", 3),
                src("mandelbrot", 3),
                img("rocket", 4),
                img("chelsea", 3),
                src("smptebars", 3),
                img("retina", 3),
                src(life, 3),
            ],
            [
                Join("dissolve", 1.0),
                Join("dissolve", 0.5),
                Join("dissolve", 2.0),
                Join("dissolve", 1.0),
                Join("dissolve", 0.4),
                Join("dissolve", 1.5),
                Join("dissolve", 1.0),
                Join("dissolve", 0.8),
            ],
            (),
        ),
        "flashes": (
            [
                img("astronaut", 5),
                img("coffee", 5),
                src("testsrc2", 5),
                img("rocket", 5),
                img("chelsea", 5),
            ],
            [Join("cut")] * 4,
            (
                Flash(20, 1, "bright"),
                Flash(60, 2, "white"),
                Flash(90, 1, "white"),
                Flash(150, 3, "bright"),
                Flash(190, 1, "bright"),
                Flash(230, 2, "white"),
                Flash(290, 1, "bright"),
                Flash(330, 3, "white"),
                Flash(400, 2, "bright"),
                Flash(440, 1, "white"),
                Flash(480, 3, "bright"),
                Flash(560, 1, "white"),
                Flash(600, 2, "bright"),
            ),
        ),
        "mixed": (
            [
                img("coffee", 3),
                src("testsrc2", 2.5),
                img("hubble_deep_field", 3),
                src("smptebars", 2),
                img("astronaut", 3),
                src(life, 3),
                img("colorwheel", 2.5),
                src("mandelbrot", 3),
                img("rocket", 3),
                src("testsrc", 2.5),
            ],
            [
                Join("dissolve", 0.6),
                Join("cut"),
                Join("fade", 0.8),
                Join("cut"),
                Join("dissolve", 1.2),
                Join("fade_hold", 0.5),
                Join("cut"),
                Join("dissolve", 1.0),
                Join("cut"),
            ],
            (
                Flash(40, 1, "white"),
                Flash(170, 2, "bright"),
                Flash(330, 1, "bright"),
                Flash(520, 2, "white"),
            ),
        ),
        "motion": (
            [
                src(life, 4),
                src(cellauto, 4),
                src("mandelbrot", 4),
                img("hubble_deep_field", 4),
                src("life=ratio=0.5:mold=2", 4),
                img("retina", 4),
            ],
            [Join("cut")] * 5,
            (),
        ),
        # Made after the detector's settings were chosen on the clips above: other sources,
        # lengths and flashes, to see whether those settings carry over.
        "held_out_a": (
            [img("camera", 3), src("sierpinski", 3), img("moon", 2.5), src("pal75bars", 2),
             img("chelsea", 3), src("gradients=speed=0.05", 4), img("coffee", 3),
             src("yuvtestsrc", 2.5)],
            [Join("dissolve", 0.7), Join("cut"), Join("fade", 1.5), Join("dissolve", 1.3),
             Join("cut"), Join("fade_hold", 0.3), Join("dissolve", 0.5)],
            (Flash(30, 2, "white"), Flash(120, 1, "bright"), Flash(300, 3, "bright"),
             Flash(470, 1, "white")),
        ),
        "held_out_b": (
            [src("gradients=speed=0.02:n=5", 3), img("rocket", 3), src("cellauto=rule=30", 2),
             img("hubble_deep_field", 3), src("testsrc2", 2), img("astronaut", 3),
             src("sierpinski=type=triangle", 3), img("immunohistochemistry", 2.5)],
            [Join("cut"), Join("dissolve", 1.0), Join("cut"), Join("fade", 0.5),
             Join("dissolve", 0.9), Join("cut"), Join("fade_hold", 0.6)],
            (Flash(50, 1, "bright"), Flash(200, 2, "white"), Flash(420, 2, "bright")),
        ),
    }  # fmt: skip
    clips = []
    for name, (shots, joins, flashes) in specs.items():
        path = scratch / f"{name}.mp4"
        truth = make_shots(
            path, shots, joins, flashes=flashes, width=WIDTH, height=HEIGHT, fps=FPS,
            preset="veryfast",
        )  # fmt: skip
        frames = _frame_count(path)
        spans = [(f.frame, f.frame + f.frames - 1) for f in flashes]
        clips.append(Clip(name, path, [(t.frame, t.kind) for t in truth], spans, frames))
    return clips


def _kept_clips(scratch: Path) -> list[Clip]:
    """The clips kept in ``scratch`` by an earlier run, made (and kept) when there are none."""
    index = scratch / "clips.json"
    if index.exists():
        return [
            Clip(c["name"], Path(c["path"]), [tuple(t) for t in c["truth"]],
                 [tuple(f) for f in c["flashes"]], c["frames"])
            for c in json.loads(index.read_text())
        ]  # fmt: skip
    clips = _make_clips(scratch)
    index.write_text(json.dumps([{**c.__dict__, "path": str(c.path)} for c in clips], indent=1))
    return clips


def _frame_count(path: Path) -> int:
    import av

    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def _ours(clips: list[Clip], runs: int) -> dict[str, Any]:
    from v100.media import probe_sync
    from v100.media.scenes import detect_scenes

    found: dict[str, list[int]] = {}
    seconds: list[float] = []
    cpu: list[float] = []
    for _ in range(runs):
        total = total_cpu = 0.0
        for clip in clips:
            info = probe_sync(clip.path)
            started, started_cpu = time.perf_counter(), _cpu(children=True)
            detection = detect_scenes(clip.path, info)
            total += time.perf_counter() - started
            total_cpu += _cpu(children=True) - started_cpu
            found[clip.name] = [b.frame for b in detection.boundaries]
        seconds.append(total)
        cpu.append(total_cpu)
    return {"found": found, "seconds": seconds, "cpu_seconds": cpu}


def _decode_only(clips: list[Clip]) -> tuple[float, float]:
    """Wall and CPU seconds FFmpeg takes just to decode the clips: the floor of any detector
    that looks at every frame."""
    from v100.media import ffmpeg_path

    started, started_cpu = time.perf_counter(), _cpu(children=True)
    for clip in clips:
        subprocess.run(
            [ffmpeg_path(), "-v", "error", "-nostdin", "-i", str(clip.path), "-f", "null", "-"],
            check=True,
        )
    return time.perf_counter() - started, _cpu(children=True) - started_cpu


def _cpu(*, children: bool = False) -> float:
    """CPU seconds of this process (all its threads), and of its finished children."""
    spent = time.process_time()
    if children:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        spent += usage.ru_utime + usage.ru_stime
    return spent


def _child(paths: list[str], runs: int) -> dict[str, Any]:
    """Runs in PySceneDetect's own environment: cut frames and seconds per detector."""
    from scenedetect import AdaptiveDetector, ContentDetector, SceneManager, open_video

    results: dict[str, Any] = {}
    detectors = {"ContentDetector": ContentDetector, "AdaptiveDetector": AdaptiveDetector}
    for label, make in detectors.items():
        found: dict[str, list[int]] = {}
        seconds, cpu = [], []
        for _ in range(runs):
            total = total_cpu = 0.0
            for path in paths:
                started, started_cpu = time.perf_counter(), _cpu()
                video = open_video(path)
                manager = SceneManager()
                manager.add_detector(make())
                manager.detect_scenes(video)
                scenes = manager.get_scene_list()
                total += time.perf_counter() - started
                total_cpu += _cpu() - started_cpu
                found[Path(path).stem] = [start.frame_num for start, _ in scenes[1:]]
            seconds.append(total)
            cpu.append(total_cpu)
        results[label] = {"found": found, "seconds": seconds, "cpu_seconds": cpu}
    import scenedetect

    results["version"] = scenedetect.__version__
    return results


def _score(
    clips: list[Clip], found: dict[str, list[int]], gradual_tolerance: int = TOLERANCE
) -> dict[str, Any]:
    """Matches one to one within TOLERANCE frames (``gradual_tolerance`` for fades and
    dissolves)."""
    tp = fp = fn = flash_hits = 0
    by_kind: dict[str, list[int]] = {}
    for clip in clips:
        left = sorted(found[clip.name])
        for frame, kind in clip.truth:
            tolerance = TOLERANCE if kind == "cut" else gradual_tolerance
            match = next((f for f in left if abs(f - frame) <= tolerance), None)
            hit = by_kind.setdefault(kind, [0, 0])
            hit[1] += 1
            if match is None:
                fn += 1
                continue
            left.remove(match)
            tp += 1
            hit[0] += 1
        fp += len(left)
        flash_hits += sum(
            any(first - TOLERANCE <= f <= last + TOLERANCE for f in left)
            for first, last in clip.flashes
        )
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "flashes_reported": flash_hits,
        "recall_by_kind": {k: f"{h}/{n}" for k, (h, n) in sorted(by_kind.items())},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument(
        "--scenedetect-python",
        default=os.environ.get("V100_BENCH_SCENEDETECT_PYTHON", "/work/bench-venv/bin/python"),
    )
    parser.add_argument("--clips", help="keep the clips here and reuse them")
    parser.add_argument("--child", nargs="*")
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(_child(args.child, args.runs)))
        return

    with tempfile.TemporaryDirectory(prefix="scenes-bench-") as scratch_name:
        scratch = Path(args.clips or scratch_name)
        scratch.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        clips = _kept_clips(scratch) if args.clips else _make_clips(scratch)
        made = time.perf_counter() - started
        results = {"v100 detect_scenes": _ours(clips, args.runs)}
        floor = _decode_only(clips)
        theirs_version = None
        if Path(args.scenedetect_python).exists():
            command = [args.scenedetect_python, __file__, "--runs", str(args.runs),
                       "--child", *(str(c.path) for c in clips)]  # fmt: skip
            out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
            theirs = json.loads(out.strip().splitlines()[-1])
            theirs_version = theirs.pop("version")
            for label, result in theirs.items():
                results[f"PySceneDetect {label}"] = result
        else:
            print(f"(no PySceneDetect: {args.scenedetect_python} not found)")
    _report(clips, results, made, theirs_version)
    wall, cpu = floor
    cells = ", ".join(
        f"{label} {statistics.median(r['cpu_seconds']) / cpu:.2f}x" for label, r in results.items()
    )
    print(
        f"decoding alone (ffmpeg -f null): wall {wall:.2f} s, CPU {cpu:.2f} s; "
        f"CPU over decoding alone: {cells}"
    )


def _report(
    clips: list[Clip], results: dict[str, Any], made: float, theirs_version: str | None
) -> None:
    frames = sum(c.frames for c in clips)
    truths = sum(len(c.truth) for c in clips)
    flashes = sum(len(c.flashes) for c in clips)
    cores = len(os.sched_getaffinity(0))
    print(
        f"{len(clips)} clips, {frames} frames ({frames / FPS:.0f} s) at {WIDTH}x{HEIGHT} "
        f"{FPS} fps (H.264, x264 veryfast), {truths} true boundaries, {flashes} flashes; "
        f"made in {made:.1f} s; "
        f"{cores} cores, load average {os.getloadavg()[0]:.1f}; tolerance {TOLERANCE} frame"
        + (f"; PySceneDetect {theirs_version}" if theirs_version else "")
    )
    scores = {label: _score(clips, r["found"]) for label, r in results.items()}
    ours_s = statistics.median(results["v100 detect_scenes"]["seconds"])
    ours_cpu = statistics.median(results["v100 detect_scenes"]["cpu_seconds"])
    for label, result in results.items():
        s = scores[label]
        seconds = statistics.median(result["seconds"])
        cpu = statistics.median(result["cpu_seconds"])
        print(
            f"{label:34s} P {s['precision']:.3f} R {s['recall']:.3f} F1 {s['f1']:.3f} "
            f"(TP {s['tp']} FP {s['fp']} FN {s['fn']}; flashes reported "
            f"{s['flashes_reported']}/{flashes}; recall {s['recall_by_kind']})\n"
            f"{'':34s} wall {seconds:.2f} s ({frames / seconds:.0f} frames/s, "
            f"{seconds / ours_s:.2f}x ours), CPU {cpu:.2f} s ({cpu / ours_cpu:.2f}x ours)"
        )
    loose = round(LOOSE_SECONDS * FPS)
    print(f"the same with fades and dissolves matched within {loose} frames ({LOOSE_SECONDS} s):")
    for label, result in results.items():
        s = _score(clips, result["found"], gradual_tolerance=loose)
        print(
            f"{label:34s} P {s['precision']:.3f} R {s['recall']:.3f} F1 {s['f1']:.3f} "
            f"(recall {s['recall_by_kind']})"
        )
    held_out = [c for c in clips if c.name.startswith("held_out")]
    print(f"the {len(held_out)} held-out clips alone (tolerance {TOLERANCE} frame):")
    for label, result in results.items():
        s = _score(held_out, result["found"])
        print(
            f"{label:34s} P {s['precision']:.3f} R {s['recall']:.3f} F1 {s['f1']:.3f} "
            f"(flashes reported {s['flashes_reported']}; recall {s['recall_by_kind']})"
        )
    theirs = {k: v for k, v in scores.items() if k.startswith("PySceneDetect")}
    if theirs:
        best = max(theirs, key=lambda k: theirs[k]["f1"])
        best_s = statistics.median(results[best]["seconds"])
        fastest = min(statistics.median(results[k]["seconds"]) for k in theirs)
        least_cpu = min(statistics.median(results[k]["cpu_seconds"]) for k in theirs)
        f1_ratio = scores["v100 detect_scenes"]["f1"] / max(theirs[best]["f1"], 1e-9)
        print(
            f"F1 ours/best theirs ({best}) {f1_ratio:.2f} (target >= 1: "
            f"{'met' if f1_ratio >= 1 else 'MISSED'}); wall: fastest theirs/ours "
            f"{fastest / ours_s:.2f}x, best-F1 theirs/ours {best_s / ours_s:.2f}x; CPU: "
            f"least theirs/ours {least_cpu / ours_cpu:.2f}x (target >= 2x: "
            f"{'met' if min(fastest / ours_s, least_cpu / ours_cpu) >= 2 else 'MISSED'})"
        )
    for clip in clips:
        cells = "  ".join(
            f"{label.split()[-1]}: {sorted(r['found'][clip.name])}" for label, r in results.items()
        )
        print(f"  {clip.name}: truth {[f for f, _ in clip.truth]}  {cells}")


if __name__ == "__main__":
    main()
