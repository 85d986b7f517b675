"""Tus faults on the video upload, on both backends: a chunk whose ``Upload-Checksum`` does not
match answers 460 and a body past the declared ``Upload-Length`` answers 413, both as
problem+json, keeping nothing of the refused bytes; the upload stays resumable from its last
good offset (no video exists before the upload is complete) and the video becomes ready once
the right bytes arrive."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from .support import VideoApp, new_tenant

# A video processed per backend; one app per backend for the module (conftest.py).
pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

OFFSET = {"Content-Type": "application/offset+octet-stream"}


def _digest(algorithm: str, data: bytes) -> str:
    return f"{algorithm} {base64.b64encode(hashlib.new(algorithm, data).digest()).decode()}"


async def test_checksum_mismatch_and_overlong_body_keep_the_upload_resumable(
    vp: VideoApp, small_video: Path
) -> None:
    tenant = new_tenant()
    data = await asyncio.to_thread(small_video.read_bytes)
    half = len(data) // 2
    tus = vp.headers(tenant, **{"Tus-Resumable": "1.0.0"})
    created = await vp.http.post("/v1/uploads", headers={**tus, "Upload-Length": str(len(data))})
    assert created.status_code == 201, created.text
    location = urlsplit(created.headers["Location"]).path

    async def patch(offset: int, body: object, **headers: str):  # type: ignore[no-untyped-def]
        return await vp.http.patch(
            location,
            content=body,  # type: ignore[arg-type]
            headers={**tus, **OFFSET, "Upload-Offset": str(offset), **headers},
        )

    async def offset() -> int:
        head = await vp.http.head(location, headers=tus)
        assert head.status_code == 200, head.status_code
        return int(head.headers["Upload-Offset"])

    good = await patch(0, data[:half], **{"Upload-Checksum": _digest("sha1", data[:half])})
    assert good.status_code == 204, good.text
    # The second half, damaged on the way: its digest is of the bytes the client meant to send.
    damaged = bytes([data[half] ^ 0xFF]) + data[half + 1 :]
    bad = await patch(half, damaged, **{"Upload-Checksum": _digest("sha256", data[half:])})
    assert bad.status_code == 460, bad.text
    assert bad.headers["content-type"] == "application/problem+json"
    assert bad.json()["type"] == "/problems/checksum-mismatch"
    assert await offset() == half

    # Past the declared length, announced (Content-Length) or streamed (chunked): 413.
    over = await patch(half, data[half:] + b"extra")
    assert over.status_code == 413, over.text
    assert over.headers["content-type"] == "application/problem+json"

    async def chunked() -> AsyncIterator[bytes]:
        yield data[half:]
        yield b"more than was declared"

    streamed = await patch(half, chunked())
    assert streamed.status_code == 413, streamed.text
    assert await offset() == half
    upload_id = location.rsplit("/", 1)[1]
    listed = await vp.http.get(
        "/v1/videos", params={"upload_id": upload_id}, headers=vp.headers(tenant)
    )
    assert listed.json()["items"] == []  # a video exists once its upload is complete

    # Resumed with the right bytes: complete, and processed as any upload.
    rest = await patch(half, data[half:], **{"Upload-Checksum": _digest("md5", data[half:])})
    assert rest.status_code == 204, rest.text
    ready = await vp.wait(tenant, (await vp.video_of_upload(tenant, upload_id))["id"])
    assert ready["status"] == "ready", ready["error"]
    assert ready["duration"] == pytest.approx(3.0, abs=0.1)
