"""An analysis of a stored talking-heads video on both backends, video_processing on loopback:
every stage's result (the cut after the intro, a keyframe per scene whose presigned link
serves a JPEG, two face tracks, the speech segments, the curves, which head talks when), the
transcript stage skipped while transcription is away, one ``analysis.completed`` event, one
started minute charged; a retried POST answered alike; listed, read and deleted by its tenant
only."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import orjson
import pytest
from sqlalchemy import column, select, table

from v100.contracts.events import ANALYSIS_COMPLETED, analysis_progress_channel
from v100.kit.db import unit_of_work
from v100.kit.jobs import JOB_TABLE

from .support import INTRO_SECONDS, Stack, Talk, new_tenant

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

JOBS = table(JOB_TABLE, column("status"), column("task"), column("tenant_id"))
TASK = "video_analysis.analyse"


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> float:
    return max(0.0, min(a[1], b[1]) - max(a[0], b[0]))


async def test_a_talking_heads_video_is_analysed(stack: Stack, talk: Talk) -> None:
    va, tenant = stack.va, new_tenant()
    video = await stack.ready_video(tenant, talk.path)
    available, _ = await va.balance(tenant)  # video_processing's minute already paid
    stages = ["scenes", "keyframes", "faces", "speech", "signals", "speakers", "transcript"]
    key = uuid.uuid4().hex
    created = await va.create(tenant, {"video_id": video["id"], "stages": stages}, key=key)
    assert created.status_code == 202, created.text
    analysis = created.json()
    assert analysis["status"] == "queued"
    assert analysis["stages"] == stages
    assert analysis["scene_threshold"] == 5.0
    assert set(analysis["progress"]) == set(stages)
    again = await va.create(tenant, {"video_id": video["id"], "stages": stages}, key=key)
    assert again.json()["id"] == analysis["id"]

    bus = va.app.state.runtime.bus
    async with bus.subscribe(analysis_progress_channel(analysis["id"])) as live:
        done = await va.wait(tenant, analysis["id"])
        seen: list[dict[str, Any]] = []

        async def follow() -> None:
            async for payload in live:
                seen.append(orjson.loads(payload))
                if seen[-1]["status"] in ("completed", "failed"):
                    return

        await asyncio.wait_for(follow(), 10)
    # Live progress, stage by stage (the first steps may precede the subscription).
    assert {step["stage"] for step in seen} >= {"keyframes", "speech", "signals", None}
    assert seen[-1]["percent"] == 100
    assert seen[-1]["stages"] == dict.fromkeys(stages[:-1], 100) | {"transcript": 0}
    assert [step["percent"] for step in seen] == sorted(step["percent"] for step in seen)
    assert done["status"] == "completed", done
    assert done["percent"] == 100
    assert done["duration"] == pytest.approx(talk.duration, abs=0.2)
    assert (done["width"], done["height"], done["has_audio"]) == (640, 360, True)
    for stage in stages[:-1]:
        assert done["progress"][stage] == {"status": "completed", "percent": 100, "reason": None}
    transcript = done["progress"]["transcript"]
    assert transcript["status"] == "skipped"
    assert "transcription is not reachable" in transcript["reason"]
    assert done["credits_charged"] == 1
    assert await va.balance(tenant) == (available - 1, 0)

    base = f"/v1/analyses/{analysis['id']}"
    scenes = (await va.get(tenant, f"{base}/scenes")).json()
    assert [(b["kind"], b["time"]) for b in scenes["boundaries"]] == [("cut", INTRO_SECONDS)]
    assert len(scenes["scenes"]) == 2

    keyframes = (await va.get(tenant, f"{base}/keyframes")).json()["items"]
    assert [k["scene"] for k in keyframes] == [0, 1]
    image = await va.download(keyframes[1]["url"])
    assert image.status_code == 200
    assert image.content[:3] == b"\xff\xd8\xff"  # JPEG

    faces = (await va.get(tenant, f"{base}/faces")).json()
    assert len(faces["tracks"]) == 2
    for track in faces["tracks"]:
        assert track["start"] >= INTRO_SECONDS
        assert track["end"] >= talk.duration - 1.0
    # Which true head each track is: the one whose box its first face is nearest.
    head_of = {
        t["id"]: min(range(2), key=lambda h: abs(talk.boxes[h][0] - t["faces"][0]["x"]))
        for t in faces["tracks"]
    }
    assert sorted(head_of.values()) == [0, 1]
    said = sum(end - start for start, end, _ in talk.turns)
    right = sum(
        _overlap((turn["start"], turn["end"]), (start, end))
        for turn in faces["active_speaker"]
        for start, end, head in talk.turns
        if head_of[turn["track_id"]] == head
    )
    assert right / said >= 0.8, faces["active_speaker"]

    speech = (await va.get(tenant, f"{base}/speech")).json()
    assert speech["segments"][0]["start"] == pytest.approx(talk.turns[0][0], abs=0.3)
    # espeak-ng ends its recordings with a little silence of its own.
    assert speech["segments"][-1]["end"] == pytest.approx(talk.turns[-1][1] - 0.2, abs=0.4)
    assert speech["speech_seconds"] == pytest.approx(said, rel=0.2)

    signals = (await va.get(tenant, f"{base}/signals")).json()
    assert signals["interval"] == 0.5
    slots = round(talk.duration / 0.5)
    assert len(signals["loudness"]) == pytest.approx(slots, abs=1)
    assert len(signals["energy"]) == pytest.approx(slots, abs=1)
    assert len(signals["motion"]) == pytest.approx(slots, abs=1)
    assert max(signals["loudness"][:3]) == -70.0  # the silent intro
    assert max(signals["loudness"]) > -30.0
    assert "mouths" not in signals

    refused = await va.get(tenant, f"{base}/transcript")
    assert refused.status_code == 409
    assert refused.json()["type"] == "/problems/analysis-stage-not-run"
    assert "skipped" in refused.json()["detail"]

    (event,) = await va.events(analysis["id"])
    assert event.type == ANALYSIS_COMPLETED
    assert event.data["video_id"] == video["id"]
    assert set(event.data["skipped"]) == {"transcript"}


async def test_analyses_are_listed_read_and_deleted_by_their_tenant(
    stack: Stack, talk: Talk
) -> None:
    va, tenant, other = stack.va, new_tenant(), new_tenant()
    video = await stack.ready_video(tenant, talk.path)
    created = await va.create(tenant, {"video_id": video["id"], "stages": ["scenes"]})
    assert created.status_code == 202, created.text
    analysis_id = created.json()["id"]
    done = await va.wait(tenant, analysis_id)
    assert done["stages"] == ["scenes"]
    assert done["status"] == "completed", done

    listed = (await va.get(tenant, f"/v1/analyses?video_id={video['id']}")).json()
    assert [item["id"] for item in listed["items"]] == [analysis_id]
    assert (await va.get(other, "/v1/analyses")).json()["items"] == []
    for path in ("", "/scenes", "/faces"):
        assert (await va.get(other, f"/v1/analyses/{analysis_id}{path}")).status_code == 404
    not_asked = await va.get(tenant, f"/v1/analyses/{analysis_id}/faces")
    assert not_asked.status_code == 409
    assert "did not ask" in not_asked.json()["detail"]

    gone = await va.http.delete(f"/v1/analyses/{analysis_id}", headers=va.headers(other))
    assert gone.status_code == 404
    deleted = await va.http.delete(f"/v1/analyses/{analysis_id}", headers=va.headers(tenant))
    assert deleted.status_code == 204
    assert (await va.get(tenant, f"/v1/analyses/{analysis_id}")).status_code == 404


async def test_the_scene_threshold_comes_from_the_request_or_the_tenant(
    stack: Stack, talk: Talk
) -> None:
    va, tenant = stack.va, new_tenant()
    video = await stack.ready_video(tenant, talk.path)
    path = "/v1/video-analysis/settings"
    assert (await va.get(tenant, path)).json() == {"scene_threshold": None, "updated_at": None}
    changed = await va.http.put(path, json={"scene_threshold": 12.5}, headers=va.headers(tenant))
    assert changed.status_code == 200, changed.text
    assert (await va.get(new_tenant(), path)).json()["scene_threshold"] is None

    body = {"video_id": video["id"], "stages": ["scenes"]}
    by_tenant = (await va.create(tenant, body)).json()
    by_request = (await va.create(tenant, {**body, "scene_threshold": 30})).json()
    assert by_tenant["scene_threshold"] == 12.5
    assert by_request["scene_threshold"] == 30
    done = await va.wait(tenant, by_request["id"])
    scenes = (await va.get(tenant, f"/v1/analyses/{done['id']}/scenes")).json()
    assert scenes["threshold"] == 30
    await va.wait(tenant, by_tenant["id"])


async def test_an_analysis_deleted_while_it_runs_stops(stack: Stack, talk: Talk) -> None:
    va, tenant = stack.va, new_tenant()
    video = await stack.ready_video(tenant, talk.path)
    created = await va.create(tenant, {"video_id": video["id"]})
    analysis_id = created.json()["id"]
    for _ in range(600):
        running = (await va.get(tenant, f"/v1/analyses/{analysis_id}")).json()
        if running["progress"]["scenes"]["status"] == "completed":
            break
        await asyncio.sleep(0.05)
    assert running["status"] == "running", running
    deleted = await va.http.delete(f"/v1/analyses/{analysis_id}", headers=va.headers(tenant))
    assert deleted.status_code == 204
    # The job notices at its next step and ends quietly: no event, no row comes back.
    sessions = va.app.state.runtime.sessions
    records: list[str] = []
    # The tenant's analysis jobs (the module's tests share one app: other tenants have jobs).
    ours = (JOBS.c.task == TASK) & (JOBS.c.tenant_id == tenant)
    for _ in range(600):
        async with unit_of_work(sessions) as session:
            records = list(
                (await session.execute(select(JOBS.c.status).where(ours))).scalars().all()
            )
        if records and all(status == "succeeded" for status in records):
            break
        await asyncio.sleep(0.1)
    assert records == ["succeeded"]
    assert (await va.get(tenant, f"/v1/analyses/{analysis_id}")).status_code == 404
    assert await va.events(analysis_id) == []
