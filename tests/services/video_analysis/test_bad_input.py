"""Bad input ends in a documented error, never a stuck analysis: an unknown or another
tenant's video (404), one not ready (409), one without a picture (409), sound stages asked of
a video without sound (409), a body that does not fit (422); a silent video's analysis
completes with its sound stages skipped, saying why."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from v100.media.testing import make_audio, make_video

from .support import Stack, new_tenant

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]


async def test_videos_that_cannot_be_analysed_are_refused_at_once(
    stack: Stack, tmp_path: Path
) -> None:
    va, tenant, other = stack.va, new_tenant(), new_tenant()
    mute = await stack.ready_video(
        tenant, make_video(tmp_path / "mute.mp4", seconds=2, audio=False)
    )
    theirs = await stack.ready_video(other, make_video(tmp_path / "theirs.mp4", seconds=2))
    sound = await stack.ready_video(tenant, make_audio(tmp_path / "sound.m4a", seconds=2))
    importing = await stack.vp.http.post(
        "/v1/videos",
        json={"input_url": "https://media.invalid/talk.mp4"},
        headers=stack.vp.headers(tenant),
    )
    assert importing.json()["status"] == "uploading"

    cases = [
        (str(uuid.uuid4()), ["scenes"], 404, "video-not-found"),
        (theirs["id"], ["scenes"], 404, "video-not-found"),
        (importing.json()["id"], ["scenes"], 409, "video-not-ready"),
        (sound["id"], ["speech"], 409, "video-has-no-picture"),
        (mute["id"], ["speech", "transcript"], 409, "video-has-no-audio"),
    ]
    for video_id, stages, status, kind in cases:
        answer = await va.create(tenant, {"video_id": video_id, "stages": stages})
        assert answer.status_code == status, answer.text
        assert answer.json()["type"] == f"/problems/{kind}"
    for body in (
        {"video_id": mute["id"], "stages": ["audio_events"]},
        {"video_id": mute["id"], "stages": []},
        {"video_id": mute["id"], "scene_threshold": 0},
        {"video_id": mute["id"], "colour": "blue"},
        {"video_id": ""},
    ):
        assert (await va.create(tenant, body)).status_code == 422, body
    assert (await va.get(tenant, "/v1/analyses")).json()["items"] == []


async def test_a_silent_video_completes_with_its_sound_stages_skipped(
    stack: Stack, tmp_path: Path
) -> None:
    va, tenant = stack.va, new_tenant()
    mute = await stack.ready_video(
        tenant, make_video(tmp_path / "mute.mp4", seconds=3, audio=False)
    )
    created = await va.create(tenant, {"video_id": mute["id"]})
    assert created.status_code == 202, created.text
    assert created.json()["stages"] == [
        "scenes", "keyframes", "faces", "speech", "signals", "speakers",
    ]  # fmt: skip
    done = await va.wait(tenant, created.json()["id"])
    assert done["status"] == "completed", done
    assert done["has_audio"] is False
    progress = done["progress"]
    assert progress["speech"] == {
        "status": "skipped", "percent": 0, "reason": "the video has no audio track",
    }  # fmt: skip
    assert progress["speakers"]["status"] == "skipped"
    for stage in ("scenes", "keyframes", "faces", "signals"):
        assert progress[stage]["status"] == "completed", stage
    base = f"/v1/analyses/{done['id']}"
    signals = (await va.get(tenant, f"{base}/signals")).json()
    assert signals["loudness"] == signals["energy"] == []
    assert len(signals["motion"]) == 6
    faces = (await va.get(tenant, f"{base}/faces")).json()
    assert faces["active_speaker"] is None
    speech = await va.get(tenant, f"{base}/speech")
    assert speech.status_code == 409
    assert speech.json()["detail"] == "The speech stage was skipped: the video has no audio track."
