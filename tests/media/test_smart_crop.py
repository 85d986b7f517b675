"""Smart-crop plans from face tracks given as data (what ``FaceTracker`` gives, sampled twice
a second on a 1280x720 picture): the window follows a moving face without jitter, holds still
on a still one whose boxes wobble, cuts at a change of speaker, stacks two far-apart faces or
fits the picture, and stands in the middle without faces."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable

import pytest

from v100.media.face_tracks import FaceTrack, TrackedFace
from v100.media.faces import FaceBox
from v100.media.smart_crop import CropPath, CropSettings, plan_crop

W, H = 1280, 720
FPS = 30.0


def track(
    track_id: int,
    place: Callable[[float], tuple[float, float]],
    *,
    start: float = 0.0,
    end: float = 10.0,
    size: int = 120,
) -> FaceTrack:
    """A face ``size`` px tall centred at ``place(t)``, sampled every 0.5 s."""
    faces = []
    t = start
    while t <= end + 1e-9:
        cx, cy = place(t)
        box = FaceBox(round(cx - size / 2), round(cy - size / 2), size, size, 5.0, "frontal")
        faces.append(TrackedFace(round(t * 25), t, box))
        t += 0.5
    return FaceTrack(track_id, faces)


def still(x: float, y: float) -> Callable[[float], tuple[float, float]]:
    return lambda t: (x, y)


def windows(path: CropPath) -> list[tuple[float, int, int]]:
    """(t, x, y) of the follow/centre window on every frame."""
    out = []
    frames = round((path.end - path.start) * FPS)
    for n in range(frames):
        t = path.start + n / FPS
        window = path.shot_at(t).window_at(t)
        out.append((t, window.x, window.y))
    return out


def test_no_faces_is_a_centre_crop() -> None:
    path = plan_crop([], width=W, height=H, aspect="9:16", start=2.0, end=6.0)
    [shot] = path.shots
    assert shot.layout == "centre"
    assert (shot.pans[0].width, shot.pans[0].height) == (404, 720)
    assert shot.window_at(3.0).centre == (W / 2, H / 2)


@pytest.mark.parametrize(
    ("aspect", "size"), [("9:16", (404, 720)), ("1:1", (720, 720)), ("4:5", (576, 720))]
)
def test_window_sizes(aspect: str, size: tuple[int, int]) -> None:
    face = track(1, lambda t: (640, 300))
    [shot] = plan_crop([face], width=W, height=H, aspect=aspect, start=0, end=4).shots
    assert (shot.pans[0].width, shot.pans[0].height) == size


def test_unknown_aspect() -> None:
    with pytest.raises(ValueError, match="9:16"):
        plan_crop([], width=W, height=H, aspect="16:9", start=0, end=1)


def test_follows_a_moving_face_smoothly() -> None:
    # 100 px a second from left to right.
    face = track(1, lambda t: (200 + 100 * t, 300))
    path = plan_crop([face], width=W, height=H, aspect="9:16", start=0, end=10)
    [shot] = path.shots
    assert shot.layout == "follow"
    settings = CropSettings()
    steps = []
    previous = None
    for t, x, _ in windows(path):
        centre = 200 + 100 * t
        # The whole face is always in the window, and well inside it (within the dead zone
        # and the lag) until the window nears the picture's edge (at 9 s).
        assert x <= centre - 60, (t, x, centre)
        assert centre + 60 <= x + 404, (t, x, centre)
        if t < 8:
            assert x + 404 * 0.3 <= centre <= x + 404 * 0.7, (t, x, centre)
        if previous is not None:
            steps.append(x - previous)
        previous = x
    # Never faster than the speed limit, never backwards (no jitter), and it does move.
    assert max(abs(s) for s in steps) <= settings.max_speed * 404 / FPS + 1.5
    assert min(steps) >= 0
    assert windows(path)[-1][1] - windows(path)[0][1] > 800
    # A handful of straight pieces, not a point per frame.
    assert len(shot.pans[0].points) < 20


def test_a_still_face_with_wobbly_boxes_keeps_the_window_still() -> None:
    wobble = random.Random(7)
    face = track(1, lambda t: (700 + wobble.uniform(-20, 20), 320 + wobble.uniform(-10, 10)))
    path = plan_crop([face], width=W, height=H, aspect="1:1", start=0, end=10)
    [shot] = path.shots
    assert {(x, y) for _, x, y in windows(path)} == {shot.pans[0].points[0][1:]}
    assert abs(shot.window_at(5).centre[0] - 700) < 25


def test_a_change_of_speaker_is_a_cut() -> None:
    left = track(1, lambda t: (250, 300))
    right = track(2, lambda t: (1030, 300))
    turns = [(0.0, 4.0, 1), (4.0, 8.0, 2)]
    path = plan_crop(
        [left, right], width=W, height=H, aspect="9:16", start=0, end=8, speakers=turns
    )
    assert [(s.layout, s.tracks) for s in path.shots] == [("follow", (1,)), ("follow", (2,))]
    assert path.shots[0].end == pytest.approx(4.0)
    centres = [(t, path.shot_at(t).window_at(t).centre[0]) for t, _, _ in windows(path)]
    # Every frame shows one speaker or the other, never the space between: a cut, not a pan.
    for t, x in centres:
        expected = 250 if t < 4.0 else 1030
        assert abs(x - expected) < 1, (t, x)


def test_pauses_hold_the_last_speaker_and_short_turns_are_absorbed() -> None:
    left = track(1, lambda t: (250, 300))
    right = track(2, lambda t: (1030, 300))
    # A pause from 3 to 4 s, and a 0.4 s interjection by the right speaker at 6 s.
    turns = [(0.0, 3.0, 1), (4.0, 6.0, 1), (6.0, 6.4, 2), (6.4, 9.0, 1)]
    path = plan_crop(
        [left, right], width=W, height=H, aspect="9:16", start=0, end=9, speakers=turns
    )
    assert [(s.layout, s.tracks) for s in path.shots] == [("follow", (1,))]


def test_two_faces_apart_are_split_or_fitted() -> None:
    left = track(1, lambda t: (250, 300))
    right = track(2, lambda t: (1030, 320))
    path = plan_crop([right, left], width=W, height=H, aspect="9:16", start=0, end=6)
    [shot] = path.shots
    assert shot.layout == "split"
    assert shot.tracks == (1, 2)  # the left face on top
    top, bottom = (pan.window_at(3.0) for pan in shot.pans)
    for pane, (cx, cy) in ((top, (250, 300)), (bottom, (1030, 320))):
        # Each pane is twice as wide as the 9:16 frame's aspect, holds its face, 3 faces tall.
        assert pane.width / pane.height == pytest.approx(9 / 8, abs=0.02)
        assert pane.x < cx - 60
        assert cx + 60 < pane.x + pane.width
        assert pane.y < cy - 60
        assert cy + 60 < pane.y + pane.height
        assert pane.height == 360
    fitted = plan_crop(
        [left, right],
        width=W,
        height=H,
        aspect="9:16",
        start=0,
        end=6,
        settings=CropSettings(two_faces="fit"),
    )
    assert [s.layout for s in fitted.shots] == ["fit"]


def test_two_faces_close_together_share_one_window() -> None:
    left = track(1, lambda t: (560, 300), size=100)
    right = track(2, lambda t: (720, 300), size=100)
    [shot] = plan_crop([left, right], width=W, height=H, aspect="9:16", start=0, end=4).shots
    assert (shot.layout, shot.tracks) == ("follow", (1, 2))
    assert abs(shot.window_at(2).centre[0] - 640) < 2


def test_three_faces_apart_are_fitted() -> None:
    faces = [track(i, still(x, 300)) for i, x in ((1, 150), (2, 640), (3, 1130))]
    path = plan_crop(faces, width=W, height=H, aspect="4:5", start=0, end=4)
    assert [s.layout for s in path.shots] == ["fit"]


def test_a_face_that_leaves_ends_in_a_cut_to_the_centre() -> None:
    face = track(1, lambda t: (200, 300), end=3.0)
    path = plan_crop([face], width=W, height=H, aspect="9:16", start=0, end=8)
    assert [s.layout for s in path.shots] == ["follow", "centre"]
    # Held for a second after the last sighting.
    assert path.shots[1].start == pytest.approx(4.1, abs=0.11)
    assert path.shot_at(6).window_at(6).centre[0] == W / 2


def test_split_panes_follow_their_faces() -> None:
    still_face = track(1, still(150, 300))
    walker = track(2, lambda t: (700 + 50 * t, 300))
    [shot] = plan_crop([still_face, walker], width=W, height=H, aspect="9:16", start=0,
                       end=10).shots  # fmt: skip
    assert shot.layout == "split"
    top, bottom = shot.pans
    assert len({p[1:] for p in top.points}) == 1  # the still face's pane stands still
    for t in (1.0, 5.0, 9.0):
        pane = bottom.window_at(t)
        assert pane.x + 60 < 700 + 50 * t < pane.x + pane.width - 60, (t, pane)


def test_a_portrait_source_pans_vertically_for_a_square() -> None:
    face = track(1, lambda t: (360, 300 + 60 * t), end=8)
    path = plan_crop([face], width=720, height=1280, aspect="1:1", start=0, end=8)
    [shot] = path.shots
    assert (shot.pans[0].width, shot.pans[0].height) == (720, 720)
    ys = [y for _, _, y in windows(path)]
    assert ys[0] < ys[-1]
    assert all(b >= a for a, b in itertools.pairwise(ys))


def test_a_face_is_not_held_across_a_scene_cut() -> None:
    before = track(1, still(250, 300), end=3.5)
    after = track(2, still(1030, 300), start=4.0, end=8.0)
    path = plan_crop([before, after], width=W, height=H, aspect="9:16", start=0, end=8,
                     cuts=[4.0])  # fmt: skip
    assert [(s.layout, s.tracks) for s in path.shots] == [("follow", (1,)), ("follow", (2,))]
    assert path.shots[1].start == pytest.approx(4.0)
    assert path.shot_at(4.0).window_at(4.0).centre[0] == pytest.approx(1030, abs=1)
