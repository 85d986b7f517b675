"""A WebM meeting recording streamed in becomes an MP4 with a thumbnail at 5 s and presigned
download links, while a WebSocket client follows its progress live (and a late one starts from
the current state); audio-only recordings become M4A; a variable-frame-rate WebM (what
MediaRecorder writes) becomes a constant-rate MP4 of the same duration; on each backend stack."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from v100.media import probe
from v100.media.testing import make_video

from .conftest import Deploy
from .support import chunked, messages_until_closed

pytestmark = pytest.mark.slow


async def _probe_bytes(data: bytes, path: Path) -> Any:
    await asyncio.to_thread(path.write_bytes, data)
    return await probe(path)


async def test_a_webm_recording_becomes_an_mp4_with_a_thumbnail_and_live_progress(
    deploy: Deploy, webm: bytes, tmp_path: Path
) -> None:
    async with deploy(socket=True) as service:
        created = await service.create("Weekly sync", meeting_id="m-1")
        assert created["status"] == "uploading"
        assert created["upload_url"] == f"/v1/recordings/{created['id']}/content"
        recording_id = created["id"]
        async with service.progress(recording_id) as live:
            # Streamed in small chunks of unknown total length (chunked encoding).
            response = await service.put_content(recording_id, chunked(webm, 64 * 1024))
            assert response.status_code == 202, response.text
            assert response.json()["status"] == "processing"
            messages = await messages_until_closed(live)
            assert live.close_code == 1000
        # The first message is the state when the client connected.
        assert messages[0]["status"] == "uploading"
        assert messages[-1]["type"] == "recording.ready"
        assert (messages[-1]["status"], messages[-1]["percent"]) == ("ready", 100)
        stages = [m["stage"] for m in messages]
        for stage in ("probing", "transcoding", "thumbnail", "storing", "ready"):
            assert stage in stages, stages
        processing = [m["percent"] for m in messages if m["status"] == "processing"]
        assert processing == sorted(processing)
        # FFmpeg's -progress gave steps within the transcode, not only its start and end.
        assert len({m["percent"] for m in messages if m["stage"] == "transcoding"}) >= 2

        body = await service.wait_settled(recording_id)
        assert body["status"] == "ready"
        assert body["error"] is None
        assert body["upload_url"] is None
        assert (body["width"], body["height"], body["audio_only"]) == (320, 240, False)
        assert body["duration"] == pytest.approx(7.0, abs=0.2)
        assert body["source_size"] == len(webm)
        links = {link["kind"]: link for link in body["downloads"]}
        assert set(links) == {"mp4", "thumbnail", "source"}
        assert links["mp4"]["filename"] == "Weekly sync.mp4"
        if service.stack == "embedded":  # local disk: signed links served by the service
            assert links["mp4"]["url"].startswith("/v1/recordings/files/")
        else:  # S3 signs its own (SigV4), pointing at the S3 server
            assert links["mp4"]["url"].startswith("http://127.0.0.1:")
            assert "X-Amz-Signature=" in links["mp4"]["url"]

        mp4 = await service.download(links["mp4"]["url"])
        assert mp4.status_code == 200
        assert "Weekly sync.mp4" in mp4.headers["content-disposition"]
        info = await _probe_bytes(mp4.content, tmp_path / "out.mp4")
        assert info.video is not None
        assert info.audio is not None
        assert (info.video.codec, info.audio.codec) == ("h264", "aac")
        assert info.duration == pytest.approx(7.0, abs=0.2)
        thumbnail = await service.download(links["thumbnail"]["url"])
        assert thumbnail.content[:3] == b"\xff\xd8\xff"  # a JPEG
        source = await service.download(links["source"]["url"])
        assert source.content == webm

        # Durable events: uploaded, a progress event per stage, ready.
        events = [e.type for e in await service.events(recording_id)]
        assert events[0] == "recording.uploaded"
        assert events[-1] == "recording.ready"
        assert events.count("recording.progress") >= 4


async def test_a_late_client_starts_from_the_current_state(deploy: Deploy, webm: bytes) -> None:
    async with deploy(socket=True) as service:
        recording_id = (await service.create())["id"]
        assert (await service.put_content(recording_id, webm)).status_code == 202
        await service.wait_settled(recording_id)
        async with service.progress(recording_id) as late:
            messages = await messages_until_closed(late, within=10)
            assert late.close_code == 1000
        assert len(messages) == 1
        assert messages[0]["type"] == "recording.ready"
        assert (messages[0]["status"], messages[0]["stage"], messages[0]["percent"]) == (
            "ready",
            "ready",
            100,
        )


async def test_an_audio_only_recording_becomes_an_m4a_without_thumbnail(
    deploy: Deploy, audio_webm: bytes, tmp_path: Path
) -> None:
    async with deploy() as service:
        recording_id = (await service.create("Phone call"))["id"]
        assert (await service.put_content(recording_id, audio_webm)).status_code == 202
        body = await service.wait_settled(recording_id)
        assert body["status"] == "ready", body
        assert (body["audio_only"], body["width"], body["height"]) == (True, None, None)
        links = {link["kind"]: link for link in body["downloads"]}
        assert set(links) == {"m4a", "source"}
        assert links["m4a"]["content_type"] == "audio/mp4"
        m4a = await service.download(links["m4a"]["url"])
        info = await _probe_bytes(m4a.content, tmp_path / "out.m4a")
        assert info.video is None
        assert info.audio is not None
        assert info.audio.codec == "aac"
        assert info.duration == pytest.approx(3.0, abs=0.2)


async def test_a_variable_frame_rate_webm_becomes_an_mp4_of_the_same_duration(
    deploy: Deploy, tmp_path: Path
) -> None:
    # Browsers' MediaRecorder writes frames as they come: irregular gaps between timestamps.
    source = make_video(tmp_path / "vfr.webm", seconds=2, variable_frame_rate=True)
    before = await probe(source)
    assert before.video is not None
    assert before.video.variable_frame_rate
    async with deploy() as service:
        recording_id = (await service.create("Browser call"))["id"]
        data = await asyncio.to_thread(source.read_bytes)
        assert (await service.put_content(recording_id, data)).status_code == 202
        body = await service.wait_settled(recording_id)
        assert body["status"] == "ready", body
        assert (body["width"], body["height"], body["audio_only"]) == (320, 240, False)
        assert body["duration"] == pytest.approx(2.0, abs=0.1)
        links = {link["kind"]: link for link in body["downloads"]}
        assert set(links) == {"mp4", "thumbnail", "source"}
        mp4 = await service.download(links["mp4"]["url"])
        info = await _probe_bytes(mp4.content, tmp_path / "out.mp4")
        assert info.video is not None
        assert info.audio is not None
        assert (info.video.codec, info.audio.codec) == ("h264", "aac")
        # Resampled to a constant rate, with neither the picture nor the sound cut short.
        assert not info.video.variable_frame_rate
        assert info.duration == pytest.approx(before.duration, abs=0.1)


async def test_one_request_creates_and_uploads(deploy: Deploy, webm: bytes) -> None:
    async with deploy() as service:
        headers = service.headers(**{"Content-Type": "video/webm", "Idempotency-Key": "one-shot"})
        response = await service.http.post(
            "/v1/recordings", params={"title": "Stand-up"}, content=webm, headers=headers
        )
        assert response.status_code == 202, response.text
        recording_id = response.json()["id"]
        assert response.json()["title"] == "Stand-up"
        body = await service.wait_settled(recording_id)
        assert body["status"] == "ready"
        # A retry of the same request does not upload or process a second recording.
        again = await service.http.post(
            "/v1/recordings", params={"title": "Stand-up"}, content=webm, headers=headers
        )
        assert again.status_code == 202
        assert again.json()["id"] == recording_id
        listed = await service.http.get("/v1/recordings", headers=service.headers())
        assert [r["id"] for r in listed.json()["items"]] == [recording_id]


async def test_progress_is_stored_on_the_recording_while_processing(
    deploy: Deploy, webm: bytes
) -> None:
    async with deploy() as service:
        recording_id = (await service.create())["id"]
        assert (await service.put_content(recording_id, webm)).status_code == 202
        seen: set[tuple[str, str]] = set()
        while True:
            body = (await service.get(recording_id)).json()
            seen.add((body["status"], body["stage"]))
            if body["status"] in ("ready", "errored"):
                break
            await asyncio.sleep(0.02)
        assert ("processing", "transcoding") in seen
        assert body["status"] == "ready"
