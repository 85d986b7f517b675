"""A video uploaded with tus becomes ready: probed, an HLS ladder a player can read back through
the signed playback URLs, an MP4, an M4A, a poster and a storyboard; credits are held and
captured once; events mark each status change."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import av
import pytest

from .support import VideoApp, download_hls, fetch, new_tenant

# One app per backend for the module (conftest.py): its tests run on the module's loop.
pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_upload_becomes_a_playable_ladder(
    vp: VideoApp, small_video: Path, tmp_path: Path
) -> None:
    tenant = new_tenant()
    upload_id = await vp.tus_upload(tenant, small_video, metadata="filename c21hbGwubXA0")
    video = await vp.video_of_upload(tenant, upload_id)
    assert video["status"] in ("processing", "ready")
    assert video["title"] == "small.mp4"
    video = await vp.wait(tenant, video["id"])
    assert video["status"] == "ready", video["error"]
    assert video["progress"] == 100
    assert video["duration"] == pytest.approx(3.0, abs=0.1)
    assert video["aspect_ratio"] == "16:9"
    names = {r["name"] for r in video["renditions"]}
    assert {"master", "360p", "mp4", "m4a", "poster", "storyboard"} <= names
    assert video["max_resolution"] == "360p"
    assert video["credits_charged"] == 1

    playback = video["playback"]
    master = await download_hls(vp.http, playback["hls"], tmp_path / "hls")
    with av.open(str(master), options={"protocol_whitelist": "file"}) as container:
        assert container.streams.video
        assert container.streams.audio
        frames = sum(1 for _ in container.decode(video=0))
    assert frames >= 70  # 3 s at 25 fps, read back through the playlists

    for name, content_type in (
        ("mp4", "video/mp4"),
        ("m4a", "audio/mp4"),
        ("poster", "image/jpeg"),
    ):
        answer = await fetch(vp.http, playback[name])
        assert answer.status_code == 200, (name, answer.text[:200])
        assert answer.content[:4] != b"<?xm"
        if name != "poster":
            path = tmp_path / f"out.{name}"
            path.write_bytes(answer.content)
            with av.open(str(path)) as container:
                assert container.duration / 1e6 == pytest.approx(3.0, abs=0.2)
        del content_type
    vtt = await fetch(vp.http, playback["storyboard_vtt"])
    assert vtt.text.startswith("WEBVTT")
    sprite = await fetch(vp.http, playback["storyboard"])
    assert sprite.status_code == 200
    assert sprite.content[:2] == b"\xff\xd8"


async def test_another_tenant_sees_nothing(vp: VideoApp, small_video: Path) -> None:
    owner, other = new_tenant(), new_tenant()
    upload_id = await vp.tus_upload(owner, small_video)
    video = await vp.video_of_upload(owner, upload_id)
    answer = await vp.http.get(f"/v1/videos/{video['id']}", headers=vp.headers(other))
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["type"] == "/problems/video-not-found"
    listed = await vp.http.get("/v1/videos", headers=vp.headers(other))
    assert listed.json()["items"] == []
    await vp.wait(owner, video["id"])


async def test_each_status_change_is_an_event_after_commit(vp: VideoApp, small_video: Path) -> None:
    """upload.completed, then a rendition.ready per rendition, then ready: Mux-like payloads
    (the video itself in ``data``), on the durable ``video`` stream; progress on pub/sub."""
    from v100.contracts.events import VIDEO_STREAM, VideoEventData, video_progress_channel

    tenant = new_tenant()
    bus = vp.app.state.runtime.bus
    group = f"test-{uuid.uuid4().hex}"
    await bus.ensure_group(VIDEO_STREAM, group, from_start=False)
    progress = bus.subscribe(video_progress_channel(tenant))
    await progress.open()
    upload_id = await vp.tus_upload(tenant, small_video, metadata="passthrough cmVmLTE=")
    video = await vp.wait(tenant, (await vp.video_of_upload(tenant, upload_id))["id"])
    assert video["status"] == "ready"
    events = []
    while batch := await bus.read(VIDEO_STREAM, group, "t", count=100, block_ms=200):
        events += [m.event for m in batch if m.event.data.get("id") == video["id"]]
    types = [e.type for e in events]
    assert types[0] == "video.upload.completed"
    assert types[-1] == "video.ready"
    ready_renditions = {e.data["rendition"]["name"] for e in events[1:-1]}
    assert ready_renditions == {r["name"] for r in video["renditions"]}
    assert set(types[1:-1]) == {"video.rendition.ready"}
    final = VideoEventData.model_validate(events[-1].data)
    assert final.passthrough == "ref-1"
    assert final.duration == pytest.approx(3.0, abs=0.1)
    assert all(e.tenant_id == tenant and e.source == "video_processing" for e in events)
    percents = []
    while len(percents) < 200:
        try:
            raw = await asyncio.wait_for(progress.__anext__(), timeout=0.2)
        except TimeoutError:
            break
        percents.append(json.loads(raw)["percent"])
    await progress.close()
    assert len(percents) >= 3
    assert percents == sorted(percents)


async def test_ready_video_is_charged_once(vp: VideoApp, small_video: Path) -> None:
    tenant = new_tenant()
    available, _ = await vp.balance(tenant)
    upload_id = await vp.tus_upload(tenant, small_video)
    video = await vp.wait(tenant, (await vp.video_of_upload(tenant, upload_id))["id"])
    assert video["status"] == "ready"
    assert video["credits_charged"] == 1  # 3 s: one started minute
    assert await vp.balance(tenant) == (available - 1, 0)
