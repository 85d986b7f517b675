"""Rendered clips, end to end on videos of the astronaut's face made with FFmpeg: face tracks
from ``picture_signals``, a plan from ``plan_crop``, an MP4 from ``render_clip``. Each output
frame is held against the source frame cropped where the plan says (the render follows the
plan), faces are looked for in the output (the plan follows the faces), and ffprobe reads the
size, codecs and duration. Outputs are small (360x640) except the one TikTok-sized render."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from v100.contracts.transcripts import TranscriptDocument
from v100.media import MediaInfo, UnsupportedMedia, check_against, probe
from v100.media.captions import clip_document
from v100.media.clip_render import clip_frame, render_clip
from v100.media.faces import FaceDetector
from v100.media.platforms import CLIP_SPECS
from v100.media.scenes import detect_scenes
from v100.media.smart_crop import CropPath, CropSettings, Window, plan_crop
from v100.media.testing import make_video
from v100.media.testing_faces import Placement, make_face_video
from v100.media.video_signals import picture_signals

SMALL = dataclasses.replace(CLIP_SPECS["tiktok"], width=360, height=640)
TONE = "sine=frequency=440:sample_rate=48000"


def frame_at(path: Path, seconds: float) -> np.ndarray:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        container.seek(int(seconds / stream.time_base), stream=stream, backward=True)
        for frame in container.decode(stream):
            if frame.time is not None and frame.time >= seconds - 0.01:
                return frame.to_ndarray(format="rgb24")
    raise AssertionError(f"no frame at {seconds} s")


def cropped(source: Path, seconds: float, window: Window, size: tuple[int, int]) -> np.ndarray:
    picture = frame_at(source, seconds)[
        window.y : window.y + window.height, window.x : window.x + window.width
    ]
    return cv2.resize(picture, size, interpolation=cv2.INTER_AREA)


def difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def off_plan(picture: np.ndarray, source: Path, t: float, window: Window) -> float:
    """How far an output frame is from the source cropped at ``window``, allowing the
    window two pixels either way (crop puts 4:2:0 pictures on even columns, and FFmpeg 5.1
    rounds a moving window's position differently from 9.0)."""
    size = (picture.shape[1], picture.shape[0])
    return min(
        difference(picture, cropped(source, t, dataclasses.replace(window, x=window.x + dx), size))
        for dx in (-2, 0, 2)
        if 0 <= window.x + dx <= 640 - window.width
    )


async def planned(source: Path, aspect: str, **kwargs: object) -> tuple[MediaInfo, CropPath]:
    """The plan an analysis would make: face tracks and scene cuts from the signals."""
    info = await probe(source)
    scenes = detect_scenes(source, info)
    tracks = picture_signals(source, info, scenes, keyframes=False)
    assert info.video is not None
    path = plan_crop(
        tracks.face_tracks,
        width=info.video.display_width,
        height=info.video.display_height,
        aspect=aspect,
        start=0.0,
        end=info.duration,
        cuts=[boundary.time for boundary in scenes.boundaries],
        frame_rate=info.video.frame_rate,
        **kwargs,
    )
    return info, path


async def test_the_crop_follows_a_moving_face(tmp_path: Path) -> None:
    move = (Placement(20, 60, 80), Placement(400, 60, 80))
    source = make_face_video(tmp_path / "s.mp4", [move], seconds=4, audio=TONE)
    info, path = await planned(source, "9:16")
    assert [shot.layout for shot in path.shots] == ["follow"]
    clip = await render_clip(
        source, tmp_path / "c.mp4", info, start=0, end=4, crop=path, spec=SMALL, trim=False
    )
    out = await probe(clip.path)
    assert out.video is not None
    assert out.audio is not None
    assert (out.video.width, out.video.height, out.video.codec) == (360, 640, "h264")
    assert out.audio.codec == "aac"
    assert abs(out.duration - 4.0) < 0.1
    detector = FaceDetector()
    shot = path.shots[0]
    for t in (0.5, 2.0, 3.5):
        picture = frame_at(clip.path, t)
        # The output is the source cropped where the plan says ...
        assert off_plan(picture, source, t, shot.window_at(t)) < 6
        # ... and the face is in it, near the middle.
        [face] = detector.detect(cv2.cvtColor(picture, cv2.COLOR_RGB2GRAY))
        assert 60 < face.x + face.width / 2 < 300, (t, face)
    assert shot.window_at(3.5).x - shot.window_at(0.5).x > 250


async def test_a_change_of_speaker_cuts_between_them(tmp_path: Path) -> None:
    left = (Placement(10, 60, 80), Placement(10, 60, 80))
    right = (Placement(420, 60, 80, mirrored=True), Placement(420, 60, 80, mirrored=True))
    source = make_face_video(tmp_path / "s.mp4", [left, right], seconds=4, audio=TONE)
    info = await probe(source)
    tracks = picture_signals(source, info, detect_scenes(source, info), keyframes=False)
    ids = sorted(tracks.face_tracks, key=lambda t: t.faces[0].box.x)
    turns = [(0.0, 2.0, ids[0].id), (2.0, 4.0, ids[1].id)]
    path = plan_crop(
        tracks.face_tracks,
        width=640,
        height=360,
        aspect="9:16",
        start=0,
        end=4,
        speakers=turns,
        frame_rate=25,
    )
    assert [(s.layout, s.tracks) for s in path.shots] == [
        ("follow", (ids[0].id,)),
        ("follow", (ids[1].id,)),
    ]
    clip = await render_clip(
        source, tmp_path / "c.mp4", info, start=0, end=4, crop=path, spec=SMALL, trim=False
    )
    first, second = path.shots[0].window_at(1.0), path.shots[1].window_at(3.0)
    assert second.x - first.x > 300
    # The last frame before the cut shows the first speaker, the next one the second.
    for t, window, other in ((1.96, first, second), (2.0, second, first)):
        picture = frame_at(clip.path, t)
        right_crop = off_plan(picture, source, t, window)
        wrong_crop = off_plan(picture, source, t, other)
        assert right_crop < 6, (t, right_crop)
        assert wrong_crop > 3 * right_crop, (t, right_crop, wrong_crop)


async def test_two_faces_apart_are_stacked_and_silence_is_trimmed(tmp_path: Path) -> None:
    left = (Placement(10, 60, 80), Placement(10, 60, 80))
    right = (Placement(420, 80, 80, mirrored=True), Placement(420, 80, 80, mirrored=True))
    # The tone is muted for the first and the last second.
    muted = f"{TONE},volume=volume=0:enable='lt(t,1)+gte(t,3)'"
    source = make_face_video(tmp_path / "s.mp4", [left, right], seconds=4, audio=muted)
    info, path = await planned(source, "9:16")
    [shot] = path.shots
    assert shot.layout == "split"
    clip = await render_clip(
        source, tmp_path / "c.mp4", info, start=0, end=4, crop=path, spec=SMALL
    )
    assert clip.start == pytest.approx(1.0, abs=0.1)
    assert clip.end == pytest.approx(3.0, abs=0.1)
    assert abs((await probe(clip.path)).duration - clip.duration) < 0.1
    picture = frame_at(clip.path, 0.5)
    faces = FaceDetector().detect(cv2.cvtColor(picture, cv2.COLOR_RGB2GRAY))
    halves = sorted(face.y + face.height / 2 > 320 for face in faces)
    assert halves == [False, True], faces  # one face in each pane
    top = cropped(source, 1.5, shot.pans[0].window_at(1.5), (360, 320))
    assert difference(picture[:320], top) < 6


async def test_the_fitted_frame_has_a_blurred_background(tmp_path: Path) -> None:
    left = (Placement(10, 60, 80), Placement(10, 60, 80))
    right = (Placement(420, 80, 80, mirrored=True), Placement(420, 80, 80, mirrored=True))
    source = make_face_video(tmp_path / "s.mp4", [left, right], seconds=2, audio=TONE)
    info = await probe(source)
    tracks = picture_signals(source, info, detect_scenes(source, info), keyframes=False)
    path = plan_crop(
        tracks.face_tracks,
        width=640,
        height=360,
        aspect="9:16",
        start=0,
        end=2,
        frame_rate=25,
        settings=CropSettings(two_faces="fit"),
    )
    assert [s.layout for s in path.shots] == ["fit"]
    blurred = await render_clip(
        source, tmp_path / "b.mp4", info, start=0, end=2, crop=path, spec=SMALL, trim=False
    )
    black = await render_clip(
        source,
        tmp_path / "k.mp4",
        info,
        start=0,
        end=2,
        crop=path,
        spec=SMALL,
        trim=False,
        background="black",
    )
    fitted = cv2.resize(frame_at(source, 1.0), (360, 202), interpolation=cv2.INTER_AREA)
    for clip in (blurred, black):
        picture = frame_at(clip.path, 1.0)
        # The whole picture, 360 wide, in the middle band.
        assert difference(picture[219:421], fitted) < 8
    band = frame_at(blurred.path, 1.0)[:200]
    assert band.mean() > 40  # the blurred picture, not black
    assert np.abs(np.diff(band.astype(np.int16), axis=1)).mean() < 3  # and smooth
    assert frame_at(black.path, 1.0)[:200].mean() < 20


def words(*timed: tuple[str, float, float]) -> TranscriptDocument:
    return TranscriptDocument.model_validate(
        {
            "duration": 6.0,
            "segments": [
                {
                    "text": " ".join(w for w, _, _ in timed),
                    "start": timed[0][1],
                    "end": timed[-1][2],
                    "words": [
                        {"word": w, "start": s, "end": e, "confidence": 1.0} for w, s, e in timed
                    ],
                }
            ],
        }
    )


def test_a_clip_document_keeps_the_words_of_its_range() -> None:
    doc = words(("before", 0.2, 0.9), ("edge", 1.8, 2.4), ("inside", 2.5, 3.0), ("late", 3.8, 4.6))
    clipped = clip_document(doc, 2.0, 4.0)
    assert [(w.word, w.start, w.end) for w in clipped.words()] == [
        ("edge", 0.0, pytest.approx(0.4)),
        ("inside", pytest.approx(0.5), pytest.approx(1.0)),
    ]
    assert clipped.duration == 2.0
    untimed = TranscriptDocument.model_validate({"duration": 6.0, "segments": [
        {"text": "no word times", "start": 2.5, "end": 3.5},
        {"text": "elsewhere", "start": 5.0, "end": 6.0}]})  # fmt: skip
    [segment] = clip_document(untimed, 2.0, 4.0).segments
    assert (segment.text, segment.start, segment.end) == ("no word times", 0.5, 1.5)


async def test_a_tiktok_clip_trimmed_to_its_words(tmp_path: Path) -> None:
    source = make_video(
        tmp_path / "s.mp4", seconds=3, width=640, height=360, fps=25, picture="color=c=0x2050a0"
    )
    info = await probe(source)
    path = plan_crop([], width=640, height=360, aspect="9:16", start=0, end=3)
    doc = words(("Hello", 0.6, 1.0), ("vertical", 1.1, 1.6), ("world", 1.7, 2.2))
    clip = await render_clip(
        source,
        tmp_path / "t.mp4",
        info,
        start=0.2,
        end=3,
        crop=path,
        spec=CLIP_SPECS["tiktok"],
        transcript=doc,
        preset="ultrafast",
    )
    # Trimmed to the words, with a little air either side.
    assert (clip.start, clip.end) == (pytest.approx(0.45), pytest.approx(2.55))
    assert (clip.captions, clip.layouts) == (1, ("centre",))
    out = await probe(clip.path)
    assert out.video is not None
    assert out.audio is not None
    assert (
        (out.video.width, out.video.height)
        == (1080, 1920)
        == clip_frame(CLIP_SPECS["tiktok"], (9, 16))
    )
    assert (out.video.codec, out.audio.codec, out.video.frame_rate) == ("h264", "aac", 25.0)
    assert abs(out.duration - 2.1) < 0.1
    assert check_against(out, CLIP_SPECS["tiktok"]) == []


async def test_captions_are_burnt_in_while_their_words_are_said(tmp_path: Path) -> None:
    source = make_video(
        tmp_path / "s.mp4", seconds=4, width=640, height=360, fps=25, picture="color=c=0x2050a0"
    )
    info = await probe(source)
    path = plan_crop([], width=640, height=360, aspect="9:16", start=0, end=4)
    doc = words(("Hello", 1.0, 1.5), ("vertical", 1.6, 2.2), ("world", 2.3, 3.0))
    made = [
        await render_clip(
            source,
            tmp_path / f"{n}.mp4",
            info,
            start=0.5,
            end=4,
            crop=path,
            spec=SMALL,
            transcript=transcript,
            trim=False,
        )
        for n, transcript in enumerate((doc, None))
    ]
    assert [clip.captions for clip in made] == [1, 0]
    band = slice(300, 520)  # above the bottom fifth

    def changed(t: float) -> float:
        return difference(frame_at(made[0].path, t)[band], frame_at(made[1].path, t)[band])

    # Words from 1.0 s of the source, 0.5 s into the clip; none before.
    assert changed(1.5) > 5 * max(changed(0.2), 0.5), (changed(1.5), changed(0.2))


async def test_ranges_outside_the_plan_and_audio_alone_are_refused(tmp_path: Path) -> None:
    source = make_video(tmp_path / "s.mp4", seconds=2, width=160, height=90)
    info = await probe(source)
    path = plan_crop([], width=160, height=90, aspect="1:1", start=0.5, end=1.5)
    with pytest.raises(ValueError, match="covers"):
        await render_clip(
            source, tmp_path / "c.mp4", info, start=0, end=2, crop=path, spec=SMALL, trim=False
        )
    with pytest.raises(ValueError, match="empty"):
        await render_clip(source, tmp_path / "c.mp4", info, start=1, end=1, crop=path, spec=SMALL)
    with pytest.raises(ValueError, match="background"):
        await render_clip(source, tmp_path / "c.mp4", info, start=0.5, end=1.5, crop=path,
                          spec=SMALL, trim=False, background="white")  # type: ignore[arg-type]  # fmt: skip
    audio_only = dataclasses.replace(info, video=None)
    with pytest.raises(UnsupportedMedia):
        await render_clip(
            source, tmp_path / "c.mp4", audio_only, start=0.5, end=1.5, crop=path, spec=SMALL
        )
