"""A meeting's recording linked to its media (docs/adr/0057), on both of meeting's stacks with
the real recording_processor beside it (served on loopback: meeting calls it by URL): the host
starts a recording and gets an upload capability; the WebM sent to it over tus becomes an MP4
that the room route and the tenant's list show, with download links, once ready."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from v100.contracts.recordings import RecordingMedia, connect_recordings
from v100.kit.settings import PlatformSettings
from v100.media.testing import make_video, webm_clusters

from .conftest import Deploy
from .support import INTERNAL_SECRET, bearer

pytestmark = pytest.mark.slow


async def test_a_started_recording_uploads_and_becomes_a_downloadable_mp4(
    deploy: Deploy, recording_processor: str, tmp_path: Path
) -> None:
    webm = make_video(tmp_path / "meeting.webm", seconds=4, width=320, height=240).read_bytes()
    processor = recording_processor
    async with deploy(recording_processor_url=processor) as service:
        meeting = await service.create(title="Design review")
        host = await service.joined(meeting["id"], "Ada", role="host")
        guest = await service.joined(meeting["id"], "Bob")

        started = await service.room(meeting["id"], host["token"], "recordings")
        assert started.status_code == 201, started.text
        recording = started.json()
        media = recording["media"]
        assert recording["media_recording_id"] == media["recording_id"]
        assert (media["status"], media["meeting_id"]) == ("uploading", meeting["id"])
        assert media["upload_url"].startswith(processor + "/v1/recordings/uploads/")
        # Starting again while it runs: the same recording, the same capability.
        again = await service.room(meeting["id"], host["token"], "recordings")
        assert again.json()["media"]["upload_url"] == media["upload_url"]

        # The page's tus client, in short: where are we, then the chunks, the last one with
        # the length.
        tus = {"Tus-Resumable": "1.0.0"}
        async with httpx.AsyncClient(trust_env=False, timeout=30) as page:
            head = await page.head(media["upload_url"], headers=tus)
            assert head.headers["Upload-Offset"] == "0"
            half = len(webm) // 2
            for offset, chunk, final in ((0, webm[:half], False), (half, webm[half:], True)):
                headers = {
                    **tus,
                    "Content-Type": "application/offset+octet-stream",
                    "Upload-Offset": str(offset),
                    **({"Upload-Length": str(len(webm))} if final else {}),
                }
                sent = await page.patch(media["upload_url"], content=chunk, headers=headers)
                assert sent.status_code == 204, sent.text

        stopped = await service.room(
            meeting["id"], host["token"], f"recordings/{recording['id']}/stop"
        )
        assert stopped.status_code == 200, stopped.text
        assert stopped.json()["status"] == "stopped"

        ready = await _until_ready(service, meeting["id"], host["token"], recording["id"])
        links = {link["kind"]: link for link in ready["media"]["downloads"]}
        assert {"mp4", "thumbnail", "source"} <= set(links)
        assert ready["media"]["upload_url"] is None
        async with httpx.AsyncClient(base_url=processor, trust_env=False, timeout=30) as http:
            mp4 = await http.get(links["mp4"]["url"])
        assert mp4.status_code == 200
        assert mp4.content[4:8] == b"ftyp"

        # Only a holder of the record grant sees the recording's media from the room.
        denied = await service.room(
            meeting["id"], guest["token"], f"recordings/{recording['id']}", method="GET"
        )
        assert denied.status_code == 403
        # The tenant's list: the status, and the media recording to ask for links.
        listed = await service.http.get(
            f"/v1/meetings/{meeting['id']}/recordings", headers=service.headers()
        )
        [item] = listed.json()["items"]
        assert item["media"]["status"] == "ready"
        assert item["media"]["recording_id"] == recording["media_recording_id"]


async def _until_ready(
    service: Any, meeting_id: str, token: str, recording_id: str, within: float = 120
) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        answer = await service.http.get(
            f"/v1/meetings/{meeting_id}/room/recordings/{recording_id}", headers=bearer(token)
        )
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        assert body["media"]["status"] != "errored", body
        if body["media"]["status"] == "ready":
            return body
        assert time.monotonic() < deadline, body
        await asyncio.sleep(0.3)


async def _until_settled(
    service: Any, meeting_id: str, token: str, recording_id: str, within: float = 120
) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        answer = await service.http.get(
            f"/v1/meetings/{meeting_id}/room/recordings/{recording_id}", headers=bearer(token)
        )
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        if body["media"]["status"] in ("ready", "errored"):
            return body
        assert time.monotonic() < deadline, body
        await asyncio.sleep(0.3)


async def test_a_recording_whose_page_is_gone_still_ends_when_the_meeting_stops_it(
    deploy: Deploy, recording_processor: str, tmp_path: Path
) -> None:
    """The host's page sends chunks and dies (no last chunk). A co-host stopping the
    recording ends its upload at the bytes stored: an MP4 as long as what was stored. A
    second recording stopped by the tenant ending the meeting ends the same way; one with no
    chunk at all ends errored ``recording-empty``. The dead page's late chunk is 409."""
    live = make_video(tmp_path / "live.webm", seconds=6, keyframe_interval=25, live=True)
    webm = live.read_bytes()
    cut, seconds = next((at, ts) for at, ts in webm_clusters(webm) if ts >= 2.5)
    tus = {"Tus-Resumable": "1.0.0", "Content-Type": "application/offset+octet-stream"}
    async with (
        deploy(recording_processor_url=recording_processor) as service,
        httpx.AsyncClient(trust_env=False, timeout=30) as page,
    ):
        meeting = await service.create(title="Design review")
        host = await service.joined(meeting["id"], "Ada", role="host")
        cohost = await service.joined(meeting["id"], "Bob", role="co-host")

        async def record_until_the_page_dies(chunk_end: int) -> dict[str, Any]:
            started = await service.room(meeting["id"], host["token"], "recordings")
            assert started.status_code == 201, started.text
            recording: dict[str, Any] = started.json()
            upload = recording["media"]["upload_url"]
            for offset, end in ((0, chunk_end // 2), (chunk_end // 2, chunk_end)):
                headers = {**tus, "Upload-Offset": str(offset)}
                sent = await page.patch(upload, content=webm[offset:end], headers=headers)
                assert sent.status_code == 204, sent.text
            return recording

        first = await record_until_the_page_dies(cut)
        stopped = await service.room(
            meeting["id"], cohost["token"], f"recordings/{first['id']}/stop"
        )
        assert stopped.status_code == 200, stopped.text
        ready = await _until_settled(service, meeting["id"], cohost["token"], first["id"])
        assert ready["media"]["status"] == "ready", ready["media"]
        assert abs(ready["media"]["duration"] - seconds) < 0.6
        late = await page.patch(
            first["media"]["upload_url"], content=webm[cut:],
            headers={**tus, "Upload-Offset": str(cut), "Upload-Length": str(len(webm))},
        )  # fmt: skip
        assert late.status_code == 409
        assert late.json()["type"].endswith("upload-completed")

        second = await record_until_the_page_dies(cut)
        ended = await service.http.post(
            f"/v1/meetings/{meeting['id']}/end", headers=service.headers()
        )
        assert ended.status_code == 200, ended.text
        media = await _media_until_settled(
            recording_processor, service.tenant, second["media_recording_id"]
        )
        assert (media.status, media.received) == ("ready", cut)


async def test_a_recording_ended_with_nothing_uploaded_is_errored_empty(
    deploy: Deploy, recording_processor: str
) -> None:
    async with deploy(recording_processor_url=recording_processor) as service:
        meeting = await service.create(title="Design review")
        host = await service.joined(meeting["id"], "Ada", role="host")
        started = await service.room(meeting["id"], host["token"], "recordings")
        assert started.status_code == 201, started.text
        recording = started.json()
        ended = await service.room(meeting["id"], host["token"], "end")
        assert ended.status_code == 200, ended.text
        media = await _media_until_settled(
            recording_processor, service.tenant, recording["media_recording_id"]
        )
        assert (media.status, media.error) == ("errored", "recording-empty")


async def _media_until_settled(
    processor_url: str, tenant_id: str, media_recording_id: str, within: float = 120
) -> RecordingMedia:
    """The media recording as recording_processor tells the meeting service, once settled."""
    platform = PlatformSettings(internal_token_secret=INTERNAL_SECRET)
    client = connect_recordings(processor_url, platform)
    try:
        deadline = time.monotonic() + within
        while True:
            media = await client.media(tenant_id, media_recording_id)
            if media.status in ("ready", "errored"):
                return media
            assert time.monotonic() < deadline, media
            await asyncio.sleep(0.3)
    finally:
        await client.aclose()
