"""A meeting's recording arrives in chunks over tus (docs/adr/0057), on both backend stacks: the
meeting service makes it through the internal route (``service:recordings``) and gets an upload
capability; chunks are appended at the stored offset, a repeated chunk is refused with the
offset to go on from, a chunk cut off mid-way keeps what arrived and the rest follows, the
chunk that carries ``Upload-Length`` ends it, and the recording becomes a ready MP4 with a
thumbnail. A forged, altered or expired capability is 403; a chunk past the size limit 413."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from v100.contracts.recordings import working_for
from v100.kit.auth import Principal
from v100.kit.db import utcnow
from v100.kit.testing.http import auth_headers
from v100.media import probe
from v100.media.testing import make_video, webm_clusters
from v100.services.recording_processor.capabilities import UploadCapabilities
from v100.services.recording_processor.meeting_uploads import meeting_upload_server

from .conftest import Deploy
from .support import INTERNAL_SECRET, Deployment

pytestmark = pytest.mark.slow

TUS = {"Tus-Resumable": "1.0.0"}
OCTETS = {**TUS, "Content-Type": "application/offset+octet-stream"}


async def _record(
    service: Deployment, meeting_id: str = "m-1", key: str | None = None
) -> dict[str, Any]:
    response = await service.http.post(
        "/v1/recordings/meeting-recordings",
        json={"title": "Weekly sync", "meeting_id": meeting_id},
        headers={
            **auth_headers(service.app, working_for(service.tenant)),
            "Idempotency-Key": key or uuid.uuid4().hex,
        },
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def _media(service: Deployment, recording_id: str) -> dict[str, Any]:
    response = await service.http.get(
        f"/v1/recordings/{recording_id}/media",
        headers=auth_headers(service.app, working_for(service.tenant)),
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def _path(upload_url: str) -> str:
    return urlsplit(upload_url).path


async def _patch(
    http: httpx.AsyncClient, path: str, offset: int, chunk: bytes, **headers: str
) -> httpx.Response:
    return await http.patch(
        path, content=chunk, headers={**OCTETS, "Upload-Offset": str(offset), **headers}
    )


async def _offset(http: httpx.AsyncClient, path: str) -> int:
    response = await http.head(path, headers=TUS)
    assert response.status_code == 200, response.text
    assert response.headers["Upload-Defer-Length"] == "1"
    return int(response.headers["Upload-Offset"])


async def _ready(service: Deployment, recording_id: str, within: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        media = await _media(service, recording_id)
        if media["status"] in ("ready", "errored"):
            return media
        assert time.monotonic() < deadline, media
        await asyncio.sleep(0.2)


async def test_chunks_resume_at_the_offset_and_become_a_ready_mp4(
    deploy: Deploy, webm: bytes, tmp_path: Path
) -> None:
    async with deploy() as service:
        key = uuid.uuid4().hex
        made = await _record(service, key=key)
        assert (made["status"], made["meeting_id"], made["received"]) == ("uploading", "m-1", 0)
        assert made["upload_url"].startswith(service.settings.platform.public_url)
        # A retry of the same call (the same key) answers the same recording and capability.
        assert await _record(service, key=key) == made
        path = _path(made["upload_url"])
        http = service.http  # no API key, no internal token: the path is the credential

        size = len(webm) // 4
        chunks = [webm[i : i + size] for i in range(0, len(webm), size)]
        first = await _patch(http, path, 0, chunks[0])
        assert first.status_code == 204, first.text
        offset = int(first.headers["Upload-Offset"])
        assert offset == len(chunks[0])

        # The same chunk again (its answer was lost): refused, with the offset to go on from.
        again = await _patch(http, path, 0, chunks[0])
        assert again.status_code == 409
        assert again.headers["content-type"].startswith("application/problem+json")
        assert int(again.headers["Upload-Offset"]) == offset
        assert await _offset(http, path) == offset

        # Part of the next chunk arrives (the connection dropped after it): the rest follows
        # from the offset the server reports, nothing lost or doubled.
        half = len(chunks[1]) // 2
        assert (await _patch(http, path, offset, chunks[1][:half])).status_code == 204
        offset = await _offset(http, path)
        assert offset == len(chunks[0]) + half
        assert (await _patch(http, path, offset, chunks[1][half:])).status_code == 204
        offset += len(chunks[1]) - half
        assert (await _media(service, made["recording_id"]))["received"] == offset

        for chunk in chunks[2:-1]:
            assert (await _patch(http, path, offset, chunk)).status_code == 204
            offset += len(chunk)
        # The last chunk carries the length: the upload ends, processing starts.
        last = await _patch(http, path, offset, chunks[-1], **{"Upload-Length": str(len(webm))})
        assert last.status_code == 204, last.text
        assert int(last.headers["Upload-Offset"]) == len(webm)

        media = await _ready(service, made["recording_id"])
        assert media["status"] == "ready", (media["error"], media["error_detail"])
        assert media["upload_url"] is None
        assert media["duration"] == pytest.approx(7.0, abs=0.3)
        links = {link["kind"]: link for link in media["downloads"]}
        assert set(links) == {"mp4", "thumbnail", "source"}
        assert (await service.download(links["source"]["url"])).content == webm
        mp4 = await service.download(links["mp4"]["url"])
        assert mp4.status_code == 200
        out = tmp_path / "out.mp4"
        out.write_bytes(mp4.content)
        info = await probe(out)
        assert info.video is not None
        assert info.audio is not None
        assert info.duration == pytest.approx(7.0, abs=0.3)
        thumbnail = await service.download(links["thumbnail"]["url"])
        assert thumbnail.content[:3] == b"\xff\xd8\xff"

        # Done: the capability admits nothing more.
        late = await _patch(http, path, len(webm), b"x")
        assert late.status_code in (403, 404, 409, 410), late.text
        # The meeting's recordings, as the meeting service reads them.
        listed = await http.get(
            "/v1/recordings/meeting-recordings?meeting_id=m-1",
            headers=auth_headers(service.app, working_for(service.tenant)),
        )
        assert [r["recording_id"] for r in listed.json()["items"]] == [made["recording_id"]]


async def test_a_forged_altered_or_expired_capability_is_refused(deploy: Deploy) -> None:
    async with deploy(worker=False) as service:
        made = await _record(service)
        path = _path(made["upload_url"])
        _, _, _, _, token, upload_id = path.split("/")
        http = service.http

        def refused(response: httpx.Response) -> None:
            assert response.status_code == 403, response.text
            assert response.headers["content-type"].startswith("application/problem+json")
            assert response.json()["type"].endswith("/upload-capability-invalid")

        # Altered: one character of the signature changed.
        altered = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
        refused(await _patch(http, f"/v1/recordings/uploads/{altered}/{upload_id}", 0, b"x"))
        # Forged: signed with another secret.
        forged = UploadCapabilities("not-the-platform-secret-0123456789abcdef").sign(
            service.tenant, made["recording_id"], upload_id, int(time.time()) + 600
        )
        refused(await _patch(http, f"/v1/recordings/uploads/{forged}/{upload_id}", 0, b"x"))
        # Expired: the platform's own key, an hour ago.
        expired = UploadCapabilities(INTERNAL_SECRET).sign(
            service.tenant, made["recording_id"], upload_id, int(time.time()) - 3600
        )
        refused(await _patch(http, f"/v1/recordings/uploads/{expired}/{upload_id}", 0, b"x"))
        head = await http.head(f"/v1/recordings/uploads/{expired}/{upload_id}", headers=TUS)
        assert head.status_code == 403
        # A valid capability names one upload: another id under it is not found.
        other = await http.head(f"/v1/recordings/uploads/{token}/{uuid.uuid4()}", headers=TUS)
        assert other.status_code == 404
        # Creating an upload under it is not a thing it admits.
        create = await http.post(
            f"/v1/recordings/uploads/{token}", headers={**TUS, "Upload-Defer-Length": "1"}
        )
        assert create.status_code == 400
        assert await _offset(http, path) == 0

        # The internal routes want the platform scope: a tenant's key with every tenant
        # scope is refused, and another tenant's service call does not find the recording.
        owner = Principal(tenant_id=service.tenant, user_id="u1", scopes=frozenset({"*"}))
        as_tenant = await http.get(
            f"/v1/recordings/{made['recording_id']}/media",
            headers=auth_headers(service.app, owner),
        )
        assert as_tenant.status_code == 403
        elsewhere = await http.get(
            f"/v1/recordings/{made['recording_id']}/media",
            headers=auth_headers(service.app, working_for(str(uuid.uuid4()))),
        )
        assert elsewhere.status_code == 404


async def test_a_chunk_past_the_size_limit_is_refused_and_what_came_before_is_kept(
    deploy: Deploy, webm: bytes
) -> None:
    limit = len(webm) // 2
    async with deploy(worker=False, max_recording_bytes=limit) as service:
        made = await _record(service)
        path = _path(made["upload_url"])
        head = webm[: limit // 2]
        assert (await _patch(service.http, path, 0, head)).status_code == 204
        past = await _patch(service.http, path, len(head), webm[len(head) :])
        assert past.status_code == 413, past.text
        assert past.headers["content-type"].startswith("application/problem+json")
        assert await _offset(service.http, path) == len(head)
        assert (await _media(service, made["recording_id"]))["status"] == "uploading"


async def _end(service: Deployment, recording_id: str) -> httpx.Response:
    return await service.http.post(
        f"/v1/recordings/{recording_id}/media/end-upload",
        headers=auth_headers(service.app, working_for(service.tenant)),
    )


async def test_a_stopped_recording_ends_at_the_bytes_stored_and_plays(
    deploy: Deploy, tmp_path: Path
) -> None:
    """The page is gone: ending the upload at its offset makes an MP4 of the WebM cut at a
    chunk (cluster) boundary; a late chunk is 409 ``upload-completed`` and ending again, or
    another tenant's recording, changes nothing."""
    # Written as MediaRecorder writes: no duration in the header, whole clusters.
    path = make_video(tmp_path / "cut.webm", seconds=6, keyframe_interval=25, live=True)
    webm = path.read_bytes()
    cut, seconds = next((at, ts) for at, ts in webm_clusters(webm) if ts >= 2.5)
    assert seconds <= 4
    async with deploy() as service:
        made = await _record(service)
        upload = _path(made["upload_url"])
        half = cut // 2
        for offset, chunk in ((0, webm[:half]), (half, webm[half:cut])):
            assert (await _patch(service.http, upload, offset, chunk)).status_code == 204

        other = await service.http.post(
            f"/v1/recordings/{made['recording_id']}/media/end-upload",
            headers=auth_headers(service.app, working_for("another-tenant")),
        )
        assert other.status_code == 404
        ended = await _end(service, made["recording_id"])
        assert ended.status_code == 200, ended.text
        assert (ended.json()["status"], ended.json()["received"]) == ("processing", cut)
        late = await _patch(service.http, upload, cut, webm[cut:])
        assert late.status_code == 409
        assert late.json()["type"].endswith("upload-completed")
        head = await service.http.head(upload, headers=TUS)
        assert head.headers["Upload-Length"] == str(cut)

        media = await _ready(service, made["recording_id"])
        assert media["status"] == "ready", (media["error"], media["error_detail"])
        assert abs(media["duration"] - seconds) < 0.6, (media["duration"], seconds)
        again = await _end(service, made["recording_id"])
        assert again.json()["status"] == "ready"
        mp4 = next(link for link in media["downloads"] if link["kind"] == "mp4")
        fetched = await service.download(mp4["url"])
        assert fetched.status_code == 200
        (tmp_path / "out.mp4").write_bytes(fetched.content)
        info = await probe(tmp_path / "out.mp4")
        assert info.video is not None
        assert info.audio is not None
        assert abs(info.duration - seconds) < 0.6


async def test_nothing_stored_ends_errored_and_the_sweep_ends_idle_uploads(
    deploy: Deploy, webm: bytes, own_database: None
) -> None:
    """Ended before any chunk: errored ``recording-empty``. Past the idle window the sweep
    ends an upload at its offset rather than dropping it: one with chunks is processed, one
    never written (a recording whose meeting transaction rolled back, so nobody holds its
    capability) is errored instead of staying ``uploading``. A database of its own: the sweep
    counts every upload in it."""
    async with deploy(worker=False) as service:
        empty = await _record(service)
        ended = await _end(service, empty["recording_id"])
        assert ended.status_code == 200, ended.text
        assert (ended.json()["status"], ended.json()["error"]) == ("errored", "recording-empty")

        quiet = await _record(service)
        chunk = webm[: len(webm) // 2]
        assert (await _patch(service.http, _path(quiet["upload_url"]), 0, chunk)).status_code == 204
        orphan = await _record(service)
        runtime = service.app.state.runtime
        uploads = meeting_upload_server(service.settings).uploads(runtime.sessions, runtime.storage)
        assert (await uploads.sweep()).ended == 0  # not idle yet
        idle = timedelta(seconds=service.settings.meeting_upload_idle_seconds + 60)
        swept = await uploads.sweep(now=utcnow() + idle)
        assert swept.ended == 2
        quiet_media = await _media(service, quiet["recording_id"])
        assert (quiet_media["status"], quiet_media["received"]) == ("processing", len(chunk))
        orphan_media = await _media(service, orphan["recording_id"])
        assert (orphan_media["status"], orphan_media["error"]) == ("errored", "recording-empty")
