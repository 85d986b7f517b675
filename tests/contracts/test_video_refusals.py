"""``contracts.video_refusals.as_problem``: video_processing's refusal of a video becomes the
problem its consumers answer (slug, status and detail), anything else a 503."""

from __future__ import annotations

import pytest

from v100.contracts import videos
from v100.contracts.video_refusals import as_problem
from v100.kit.errors import ProblemError


@pytest.mark.parametrize(
    ("refusal", "status", "slug", "detail"),
    [
        (videos.VideoMissing(404, {}), 404, "video-not-found", "Video v1 does not exist."),
        (videos.VideoNotReady(409, {}), 409, videos.NOT_READY, "Video v1 is not ready."),
        (
            videos.VideoNotReady(409, {"detail": "Video v1 is processing."}),
            409, videos.NOT_READY, "Video v1 is processing.",
        ),
        (videos.VideoHasNoAudio(409, {}), 409, videos.NO_AUDIO, "Video v1 has no audio."),
        (videos.VideoHasNoPicture(409, {}), 409, videos.NO_PICTURE, "Video v1 has no picture."),
        (
            videos.VideosError(500, {"detail": "boom"}),
            503, "upstream-unavailable", "video_processing did not describe video v1 (500).",
        ),
    ],
)  # fmt: skip
def test_a_refusal_is_the_callers_problem(
    refusal: videos.VideosError, status: int, slug: str, detail: str
) -> None:
    problem = as_problem(refusal, "v1")

    assert isinstance(problem, ProblemError)
    assert (problem.status, problem.slug, problem.detail) == (status, slug, detail)
