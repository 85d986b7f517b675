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

from v100.media.testing import make_video

from .conftest import Deploy
from .support import bearer

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
