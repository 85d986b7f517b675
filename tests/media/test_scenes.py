"""Scene detection on videos FFmpeg makes with known boundaries: hard cuts between different
lavfi sources found within one frame, camera flashes (white frames, a brightened picture) not
reported, fades through black and dissolves found with their kind, a threshold per call, the
scenes covering the video, refused and damaged input."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from v100.media import (
    CorruptMedia,
    FFmpegFailed,
    FFmpegTimedOut,
    UnsupportedMedia,
    probe_sync,
)
from v100.media.scenes import detect_scenes
from v100.media.testing import make_audio, make_broken
from v100.media.testing_scenes import Flash, Join, Shot, TrueBoundary, make_shots


def _near(found: list[int], truth: list[TrueBoundary], frames: int = 1) -> bool:
    return len(found) == len(truth) and all(
        abs(f - t.frame) <= frames for f, t in zip(sorted(found), truth, strict=True)
    )


def test_hard_cuts_within_one_frame(tmp_path: Path) -> None:
    shots = [Shot("testsrc2", 1.2), Shot("smptebars", 1.0), Shot("mandelbrot", 1.4),
             Shot("color=c=teal", 0.8), Shot("rgbtestsrc", 1.0)]  # fmt: skip
    truth = make_shots(tmp_path / "cuts.mp4", shots, [Join("cut")] * 4)
    found = detect_scenes(tmp_path / "cuts.mp4", probe_sync(tmp_path / "cuts.mp4"))
    assert [b.frame for b in found.boundaries] == [t.frame for t in truth]
    assert {b.kind for b in found.boundaries} == {"cut"}
    for boundary in found.boundaries:
        assert boundary.time == pytest.approx(boundary.frame / 25, abs=1e-3)
        assert boundary.start_frame == boundary.end_frame == boundary.frame
        assert boundary.score >= found.threshold


def test_flashes_are_not_cuts(tmp_path: Path) -> None:
    # A white frame, three white frames, two brightened frames: all return to the same picture.
    flashes = (Flash(12, 1, "white"), Flash(30, 3, "white"), Flash(62, 2, "bright"))
    shots = [Shot("testsrc2", 3.2), Shot("smptebars", 1.2)]
    truth = make_shots(tmp_path / "f.mp4", shots, [Join("cut")], flashes=flashes)
    found = detect_scenes(tmp_path / "f.mp4", probe_sync(tmp_path / "f.mp4"))
    assert [b.frame for b in found.boundaries] == [truth[0].frame] == [80]


def test_fades_through_black_and_dissolves(tmp_path: Path) -> None:
    shots = [Shot("smptebars", 2), Shot("testsrc2", 2), Shot("rgbtestsrc", 2),
             Shot("color=c=orange", 2), Shot("testsrc", 2)]  # fmt: skip
    joins = [
        Join("fade", 1.0),
        Join("dissolve", 1.0),
        Join("fade_hold", 0.4),
        Join("dissolve", 0.6),
    ]
    truth = make_shots(tmp_path / "g.mp4", shots, joins)
    found = detect_scenes(tmp_path / "g.mp4", probe_sync(tmp_path / "g.mp4"))
    assert _near([b.frame for b in found.boundaries], truth)
    assert [b.kind for b in found.boundaries] == [t.kind for t in truth]
    for boundary in found.boundaries:
        assert boundary.start_frame < boundary.frame <= boundary.end_frame


def test_a_flash_in_the_black_of_a_fade_is_one_fade(tmp_path: Path) -> None:
    source = tmp_path / "flash-in-fade.mp4"
    # Out over 15 frames (25-39), black 40-54 with two flashed frames at 44-45, in from 55.
    truth = make_shots(
        source,
        [Shot("smptebars", 1.6), Shot("testsrc2", 1.6)],
        [Join("fade_hold", 0.6)],
        flashes=(Flash(44, 2, "bright"),),
    )
    found = detect_scenes(source, probe_sync(source))
    assert truth[0].frame == 47
    assert _near([b.frame for b in found.boundaries], truth)
    assert [b.kind for b in found.boundaries] == ["fade"]


def test_a_fade_in_at_the_start_and_out_at_the_end_is_no_boundary(tmp_path: Path) -> None:
    source = tmp_path / "edges.mp4"
    # Black, in from black, smptebars, out to black, black: one scene.
    black = Shot("color=c=black", 0.6)
    make_shots(source, [black, Shot("smptebars", 2.0), black],
               [Join("dissolve", 0.5), Join("dissolve", 0.5)])  # fmt: skip
    found = detect_scenes(source, probe_sync(source))
    assert found.boundaries == []
    assert len(found.scenes) == 1


@pytest.mark.parametrize(
    "params",
    [
        # veryfast's frame types: only I and P frames are decoded (x264, one reference).
        "bframes=3:b-pyramid=normal:ref=1",
        # Runs of three B frames, no I frame at the cuts: P frames 4 apart, the cuts between
        # them placed by decoding those spans.
        "bframes=3:b-pyramid=none:b-adapt=0:ref=1:scenecut=0",
        # P frames predicted from reference B frames too: only non-reference frames skipped.
        "bframes=5:b-pyramid=normal:ref=5:scenecut=0",
    ],
)
def test_cuts_within_one_frame_whichever_frames_are_decoded(tmp_path: Path, params: str) -> None:
    source = tmp_path / "encoded.mp4"
    shots = [Shot("testsrc2", 1.3), Shot("smptebars", 1.1), Shot("mandelbrot", 1.5),
             Shot("rgbtestsrc", 0.9), Shot("testsrc", 1.2)]  # fmt: skip
    truth = make_shots(source, shots, [Join("cut")] * 4, x264_params=params,
                       flashes=(Flash(12, 1, "white"), Flash(95, 2, "bright")))  # fmt: skip
    found = detect_scenes(source, probe_sync(source))
    assert _near([b.frame for b in found.boundaries], truth)
    assert found.frame_count == 150
    for boundary in found.boundaries:
        # Frames are numbered as a decode of every frame counts them, though most were not.
        assert boundary.time == pytest.approx(boundary.frame / 25, abs=1e-3)


def test_threshold_per_call_and_scenes_cover_the_video(tmp_path: Path) -> None:
    source = tmp_path / "t.mp4"
    truth = make_shots(source, [Shot("testsrc2", 1), Shot("testsrc", 1), Shot("smptebars", 1)],
                       [Join("cut")] * 2)  # fmt: skip
    info = probe_sync(source)
    found = detect_scenes(source, info)
    assert [b.frame for b in found.boundaries] == [t.frame for t in truth]
    assert found.frame_count == 75
    assert found.frame_rate == 25
    scenes = found.scenes
    assert [(s.start_frame, s.end_frame) for s in scenes] == [(0, 25), (25, 50), (50, 75)]
    assert scenes[0].start == 0
    assert scenes[-1].end == pytest.approx(info.duration)
    assert all(a.end == b.start for a, b in itertools.pairwise(scenes))
    strict = detect_scenes(source, info, threshold=95)
    assert strict.boundaries == []
    assert strict.threshold == 95
    with pytest.raises(ValueError, match="threshold"):
        detect_scenes(source, info, threshold=0)


def test_min_scene_length_keeps_the_stronger(tmp_path: Path) -> None:
    source = tmp_path / "short.mp4"
    make_shots(source, [Shot("testsrc2", 1), Shot("smptebars", 0.2), Shot("testsrc", 1)],
               [Join("cut")] * 2)  # fmt: skip
    info = probe_sync(source)
    close = detect_scenes(source, info, min_scene_length=0.1)
    assert [b.frame for b in close.boundaries] == [25, 30]
    spaced = detect_scenes(source, info)  # 0.4 s apart at least
    assert len(spaced.boundaries) == 1
    assert spaced.boundaries[0].score == max(b.score for b in close.boundaries)


def test_refused_and_damaged_input(tmp_path: Path) -> None:
    audio = make_audio(tmp_path / "a.wav", seconds=1)
    with pytest.raises(UnsupportedMedia):
        detect_scenes(audio, probe_sync(audio))
    source = tmp_path / "v.mp4"
    make_shots(source, [Shot("testsrc2", 2)], [])
    info = probe_sync(source)
    broken = make_broken(tmp_path / "b.mp4", "corrupt_middle")
    damaged = detect_scenes(broken, probe_sync(broken))  # FFmpeg decodes around the damage
    assert damaged.frame_count > 0
    with pytest.raises(FFmpegTimedOut):
        detect_scenes(source, info, timeout=0)  # in-process, a 2 s clip may take under 10 ms
    source.write_bytes(source.read_bytes()[:2000])  # the header of a file that is no more
    with pytest.raises((CorruptMedia, FFmpegFailed)):
        detect_scenes(source, info)
