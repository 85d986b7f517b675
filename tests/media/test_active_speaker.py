"""The active speaker and the signals it reads: the matching rules on constructed mouth
activity (the most active face on screen wins, a tie or a quiet face gives no speaker, a gap
between the same speaker's windows is theirs, turns follow the speech); then, on a video of two
talking heads (espeak-ng lines, mouths opening with them), the mouth activity of each face
track rises only while its head talks, and the turns name the right faces; the loudness and
energy curves follow the sound and the motion curve the picture."""

from __future__ import annotations

from pathlib import Path

import pytest

from v100.ai.testing import espeak_ng, make_speech
from v100.media import UnsupportedMedia, probe_sync
from v100.media.active_speaker import SpeakerTurn, active_speakers
from v100.media.audio_curves import audio_curves
from v100.media.motion import motion_signals
from v100.media.scenes import detect_scenes
from v100.media.testing import make_video
from v100.media.testing_faces import Placement, make_face_video
from v100.media.testing_scenes import Join, Shot, make_shots
from v100.media.testing_speakers import TalkingVideo, make_talking_video
from v100.media.video_signals import picture_signals


def _samples(start: float, end: float, value: float) -> list[tuple[float, float]]:
    steps = round((end - start) * 8)
    return [(start + i / 8, value) for i in range(steps)]


def test_the_most_active_face_on_screen_is_the_speaker() -> None:
    mouths = {
        1: _samples(0, 2, 8.0) + _samples(2, 4, 0.5),
        2: _samples(0, 2, 0.5) + _samples(2, 4, 9.0),
    }
    turns = active_speakers(mouths, [(0.0, 4.0)])
    assert [(t.start, t.end, t.track_id) for t in turns] == [(0.0, 2.0, 1), (2.0, 4.0, 2)]
    assert all(0.9 < t.confidence <= 1.0 for t in turns)


def test_no_clear_winner_and_quiet_faces_give_no_speaker() -> None:
    tie = {1: _samples(0, 2, 5.0), 2: _samples(0, 2, 4.5)}
    assert active_speakers(tie, [(0.0, 2.0)]) == []
    quiet = {1: _samples(0, 2, 0.4)}
    assert active_speakers(quiet, [(0.0, 2.0)]) == []
    # Alone on screen and talking: the speaker, with full confidence; outside speech: nobody.
    alone = {1: _samples(0, 4, 6.0)}
    assert active_speakers(alone, [(1.0, 2.0)]) == [SpeakerTurn(1.0, 2.0, 1, 1.0)]


def test_a_gap_between_the_same_speakers_windows_is_theirs() -> None:
    mouths = {1: _samples(0, 0.5, 6.0) + _samples(0.5, 1.0, 0.2) + _samples(1.0, 1.5, 6.0)}
    assert active_speakers(mouths, [(0.0, 1.5)]) == [SpeakerTurn(0.0, 1.5, 1, 1.0)]


@pytest.fixture(scope="module")
def talking(tmp_path_factory: pytest.TempPathFactory) -> TalkingVideo:
    if espeak_ng() is None:
        pytest.skip("espeak-ng is not installed (Debian package espeak-ng)")
    scratch = tmp_path_factory.mktemp("speakers")
    first = make_speech(scratch / "first.wav", "The quick brown fox jumps over the lazy dog.")
    second = make_speech(scratch / "second.wav", "We meet every morning to plan.", pitch=80)
    video = make_talking_video(scratch / "talk.mp4", [(first, 0), (second, 1)], gap=0.8)
    assert len(video.turns) == 2
    return video


def test_mouths_move_with_their_own_lines(talking: TalkingVideo) -> None:
    turns, path = talking.turns, talking.path
    info = probe_sync(path)
    tracks = picture_signals(path, info, detect_scenes(path, info), keyframes=False)
    assert len(tracks.face_tracks) == 2
    left = min(tracks.face_tracks, key=lambda t: t.faces[0].box.x)
    right = max(tracks.face_tracks, key=lambda t: t.faces[0].box.x)
    signals = motion_signals(path, info, tracks.face_tracks)

    def mean(track_id: int, start: float, end: float) -> float:
        values = [v for t, v in signals.mouths[track_id] if start <= t < end]
        return sum(values) / len(values)

    (s0, e0, _), (s1, e1, _) = turns
    assert mean(left.id, s0, e0) > 5 * mean(right.id, s0, e0)
    assert mean(right.id, s1, e1) > 5 * mean(left.id, s1, e1)
    found = active_speakers(signals.mouths, [(s0, e0), (s1, e1)])
    assert {t.track_id for t in found if t.end <= e0 + 0.1} == {left.id}
    assert {t.track_id for t in found if t.start >= s1 - 0.1} == {right.id}
    # Still heads on a still background: only the mouths move.
    assert max(signals.motion) < 1.0
    assert len(signals.motion) == pytest.approx(info.duration / 0.5, abs=1)


def test_loudness_and_energy_follow_the_sound(talking: TalkingVideo, tmp_path: Path) -> None:
    curves = audio_curves(talking.path)
    assert curves.loudness[0] == -70.0  # the gap before the first line
    assert curves.energy[0] <= -80.0
    assert max(curves.loudness) > -30.0
    assert max(curves.energy) > -30.0
    mute = make_video(tmp_path / "mute.mp4", audio=False)
    with pytest.raises(UnsupportedMedia):
        audio_curves(mute)


def test_the_faces_pass_reads_the_same_motion_and_mouths(
    talking: TalkingVideo, tmp_path: Path
) -> None:
    """``picture_signals(..., motion=True)`` gives what a pass of its own gives, value for
    value: on the talking heads, and on moving faces that vanish for a while (a track missing
    samples, its boxes interpolated across the gap) and are cut to a test card and back
    (tracks ending at a cut)."""
    moving = make_face_video(
        tmp_path / "moving.mp4",
        [(Placement(40, 60, 110), Placement(300, 80, 110)),
         (Placement(500, 150, 90, mirrored=True), Placement(420, 140, 90, mirrored=True))],
        seconds=6, hidden=(2.4, 3.0),
    )  # fmt: skip
    cut = make_shots(
        tmp_path / "cut.mp4",
        [Shot(f"video:{moving}", 3), Shot("testsrc2", 1), Shot(f"video:{moving}", 2)],
        [Join("cut"), Join("cut")],
        width=640,
        height=360,
    )
    assert len(cut) == 2
    for path in (talking.path, moving, tmp_path / "cut.mp4"):
        info = probe_sync(path)
        detection = detect_scenes(path, info)
        together = picture_signals(path, info, detection, motion=True, face_sample_rate=4)
        assert together.motion is not None
        alone = motion_signals(path, info, together.face_tracks)
        assert together.motion == alone
        assert len(together.face_tracks) >= 2
        assert sum(len(samples) for samples in alone.mouths.values()) > 10
    # Keyframes and faces are what they were without the motion.
    plain = picture_signals(path, info, detection, face_sample_rate=4)
    assert plain.face_tracks == together.face_tracks
    assert [k.image for k in plain.keyframes] == [k.image for k in together.keyframes]
    assert plain.motion is None
