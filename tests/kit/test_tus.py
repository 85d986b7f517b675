"""The tus 1.0.0 server (kit.tus) spoken to over HTTP by a real uvicorn on loopback, on SQLite and
PostgreSQL, local disk and S3: creation, chunks across part boundaries, checksums (460),
offset conflicts (409), bodies past the declared length (413), termination, expiry, the write
lease (423), tenants, deferred length, Location behind a proxy, part sizing, the migration."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import ClassVar

import httpx
import pytest
from pydantic_settings import SettingsConfigDict
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from v100.kit.auth import Principal
from v100.kit.db import create_sessionmaker, schema_drift, unit_of_work, utcnow
from v100.kit.http import DatabaseSpec, ServiceSpec, StorageSpec, create_service_app
from v100.kit.settings import PlatformSettings, ServiceSettings
from v100.kit.storage import LocalDiskStore, ObjectStore, UploadNotFound
from v100.kit.testing.db import migrated_engine
from v100.kit.testing.http import auth_headers, running_app
from v100.kit.testing.servers import serving
from v100.kit.tus import TusServer, TusSettings, TusUploadNotFound, UploadOwner, UploadStatus
from v100.kit.tus._errors import InvalidTusRequest
from v100.kit.tus._headers import Checksum, parse_checksum, parse_metadata
from v100.kit.tus._repository import get_upload

from .tus_sample import (
    MIGRATIONS,
    SERVICE,
    TUS_HEADERS,
    MiB,
    completed,
    make_app,
    make_server,
    metadata,
    read_object,
    record_completion,
)

# about a minute: two backends, real servers, MiB-sized bodies
pytestmark = [pytest.mark.slow, pytest.mark.time_sensitive]
# Each test runs embedded (SQLite, local disk) and distributed (PostgreSQL, S3): the pairs
# cover every backend without the cost of the full product.
BACKENDS = pytest.mark.parametrize(
    ("database_url", "storage_backend"),
    [("sqlite", "local"), ("postgres", "s3")],
    indirect=True,
)
OFFSET_TYPE = {"Content-Type": "application/offset+octet-stream"}
TENANT = {"X-Tenant": "tenant-a", **TUS_HEADERS}


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    async with migrated_engine(SERVICE, database_url, MIGRATIONS, metadata) as engine:
        yield create_sessionmaker(engine)


@dataclass
class Host:
    server: TusServer
    sessions: async_sessionmaker[AsyncSession]
    store: ObjectStore
    client: httpx.AsyncClient
    url: str

    async def create(self, length: int | None, **headers: str) -> str:
        sent = {**TENANT, **headers}
        if length is None:
            sent["Upload-Defer-Length"] = "1"
        else:
            sent["Upload-Length"] = str(length)
        response = await self.client.post(f"{self.url}/v1/uploads", headers=sent)
        assert response.status_code == 201, response.text
        return response.headers["location"]

    async def patch(
        self, location: str, offset: int, data: object, **headers: str
    ) -> httpx.Response:
        return await self.client.patch(
            location,
            content=data,  # type: ignore[arg-type]
            headers={**TENANT, **OFFSET_TYPE, "Upload-Offset": str(offset), **headers},
        )

    async def offset(self, location: str) -> int:
        response = await self.client.head(location, headers=TENANT)
        assert response.status_code == 200, response.status_code
        return int(response.headers["upload-offset"])


@pytest.fixture
async def host(
    sessions: async_sessionmaker[AsyncSession], storage: ObjectStore
) -> AsyncIterator[Host]:
    server = make_server(sessions, storage, lease=timedelta(seconds=5))
    async with (
        serving(make_app(server), lifespan="off") as url,
        httpx.AsyncClient(trust_env=False, timeout=30) as client,
    ):
        yield Host(server, sessions, storage, client, url)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def sha1(data: bytes) -> str:
    return b64(hashlib.sha1(data, usedforsecurity=False).digest())


@BACKENDS
async def test_options_advertise_the_protocol_and_extensions(host: Host) -> None:
    response = await host.client.options(f"{host.url}/v1/uploads")
    assert response.status_code == 204
    assert response.headers["tus-version"] == "1.0.0"
    extensions = response.headers["tus-extension"].split(",")
    for name in ("creation", "creation-with-upload", "termination", "checksum", "expiration"):
        assert name in extensions
    assert int(response.headers["tus-max-size"]) == TusSettings().max_size
    assert "sha1" in response.headers["tus-checksum-algorithm"].split(",")


@BACKENDS
async def test_chunks_across_part_boundaries_make_the_exact_object(host: Host) -> None:
    payload = os.urandom(11 * MiB + 123)
    location = await host.create(
        len(payload),
        **{"Upload-Metadata": f"filename {b64(b'clip.mp4')},filetype {b64(b'video/mp4')},flag"},
    )
    head = await host.client.head(location, headers=TENANT)
    assert head.headers["upload-offset"] == "0"
    assert head.headers["upload-length"] == str(len(payload))
    assert head.headers["cache-control"] == "no-store"
    assert "upload-expires" in head.headers
    assert parse_metadata(head.headers["upload-metadata"]) == {
        "filename": "clip.mp4",
        "filetype": "video/mp4",
        "flag": None,
    }
    # Uneven chunks: tails smaller than a part are kept as pending objects between requests.
    offset = 0
    for size in (3 * MiB, 1 * MiB + 7, 4 * MiB, 2 * MiB, len(payload)):
        piece = payload[offset : offset + size]
        response = await host.patch(location, offset, piece)
        assert response.status_code == 204, response.text
        offset += len(piece)
        assert int(response.headers["upload-offset"]) == offset
        assert await host.offset(location) == offset
        if offset == len(payload):
            break
    upload_id = location.rsplit("/", 1)[1]
    async with unit_of_work(host.sessions) as session:
        record = await get_upload(session, upload_id)
    assert record is not None
    assert record.status is UploadStatus.COMPLETED
    assert record.content_type == "video/mp4"
    if isinstance(host.store, LocalDiskStore):
        # Local disk wrote one growing file at the offsets: no parts to record or join.
        assert (record.parts, record.multipart_id) == ((), None)
    else:
        assert [part.size for part in record.parts] == [5 * MiB, 5 * MiB, MiB + 123]
    stored = await read_object(host.store, record.object_key)
    assert hashlib.sha256(stored).digest() == hashlib.sha256(payload).digest()
    assert (await host.store.head(record.object_key)).content_type == "video/mp4"
    assert await completed(host.sessions) == {upload_id: (record.object_key, len(payload))}
    # No pending tail is left behind.
    assert [info.key async for info in host.store.list("_tus/")] == []
    # Finished: HEAD still answers, a further PATCH is a conflict.
    assert await host.offset(location) == len(payload)
    again = await host.patch(location, len(payload), b"x")
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"


@BACKENDS
async def test_requests_without_tus_resumable_are_refused(host: Host) -> None:
    response = await host.client.post(
        f"{host.url}/v1/uploads", headers={"X-Tenant": "t", "Upload-Length": "5"}
    )
    assert response.status_code == 412
    assert response.headers["tus-version"] == "1.0.0"
    assert response.json()["type"] == "/problems/tus-version-unsupported"


@BACKENDS
async def test_a_checksum_mismatch_answers_460_and_keeps_nothing(host: Host) -> None:
    payload = os.urandom(6 * MiB)
    location = await host.create(len(payload))
    first = payload[: 5 * MiB + 10]
    good = await host.patch(
        location,
        0,
        first[:100],
        **{"Upload-Checksum": f"sha1 {sha1(first[:100])}"},
    )
    assert good.status_code == 204
    # A chunk that crosses a part boundary, with a wrong digest: the part it filled is not
    # counted, the pending tail from before is still the tail.
    bad = await host.patch(
        location,
        100,
        first[100:],
        **{"Upload-Checksum": f"sha1 {sha1(b'other')}"},
    )
    assert bad.status_code == 460
    assert bad.json()["type"] == "/problems/checksum-mismatch"
    assert await host.offset(location) == 100
    for algorithm, start, stop in (("md5", 100, 3 * MiB), ("sha256", 3 * MiB, len(payload))):
        piece = payload[start:stop]
        digest = b64(hashlib.new(algorithm, piece).digest())
        response = await host.patch(
            location, start, piece, **{"Upload-Checksum": f"{algorithm} {digest}"}
        )
        assert response.status_code == 204, response.text
    upload_id = location.rsplit("/", 1)[1]
    key, size = (await completed(host.sessions))[upload_id]
    assert size == len(payload)
    assert await read_object(host.store, key) == payload
    unsupported = await host.patch(location, 0, b"x", **{"Upload-Checksum": "crc32 AAAAAA=="})
    assert unsupported.status_code in (400, 409)


@BACKENDS
async def test_a_wrong_offset_is_a_conflict(host: Host) -> None:
    location = await host.create(1000)
    assert (await host.patch(location, 0, b"a" * 10)).status_code == 204
    response = await host.patch(location, 5, b"b" * 10)
    assert response.status_code == 409
    assert response.json()["type"] == "/problems/upload-offset-mismatch"
    assert response.json()["offset"] == 10
    assert await host.offset(location) == 10


@BACKENDS
async def test_a_body_past_the_declared_length_is_refused_and_not_stored(host: Host) -> None:
    location = await host.create(100)
    response = await host.patch(location, 0, b"x" * 101)
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert await host.offset(location) == 0

    async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: caught while streaming
        for _ in range(3):
            yield b"y" * 40

    response = await host.patch(location, 0, chunked())
    assert response.status_code == 413
    assert await host.offset(location) == 0
    assert [info.key async for info in host.store.list("_tus/")] == []
    too_big = await host.client.post(
        f"{host.url}/v1/uploads",
        headers={**TENANT, "Upload-Length": str(TusSettings().max_size + 1)},
    )
    assert too_big.status_code == 413


@BACKENDS
async def test_termination_drops_parts_tail_and_record(host: Host) -> None:
    location = await host.create(8 * MiB)
    assert (await host.patch(location, 0, os.urandom(6 * MiB))).status_code == 204
    upload_id = location.rsplit("/", 1)[1]
    async with unit_of_work(host.sessions) as session:
        record = await get_upload(session, upload_id)
    assert record is not None
    assert record.multipart_id is not None
    # S3 keeps the 1 MiB past the first part as a pending object; local disk has it in the file.
    assert (record.pending_key is None) == isinstance(host.store, LocalDiskStore)
    response = await host.client.delete(location, headers=TENANT)
    assert response.status_code == 204
    assert (await host.client.head(location, headers=TENANT)).status_code == 404
    if record.pending_key is not None:
        assert not await host.store.exists(record.pending_key)
    with pytest.raises(UploadNotFound):
        await host.store.list_parts(record.object_key, record.multipart_id)


@BACKENDS
async def test_the_sweep_removes_expired_uploads_and_keeps_finished_objects(host: Host) -> None:
    abandoned = await host.create(10 * MiB)
    assert (await host.patch(abandoned, 0, os.urandom(MiB))).status_code == 204
    done = await host.create(3)
    assert (await host.patch(done, 0, b"abc")).status_code == 204
    head = await host.client.head(abandoned, headers=TENANT)
    expires = head.headers["upload-expires"]
    assert expires.endswith(" GMT")
    uploads = host.server.uploads(host.sessions, host.store)
    assert (await uploads.sweep()).removed == 0  # nothing is due yet
    result = await uploads.sweep(now=utcnow() + timedelta(days=2))
    assert (result.removed, result.forgotten) == (1, 1)
    assert (await host.client.head(abandoned, headers=TENANT)).status_code == 404
    assert [info.key async for info in host.store.list("_tus/")] == []
    done_id = done.rsplit("/", 1)[1]
    key, _ = (await completed(host.sessions))[done_id]
    assert await read_object(host.store, key) == b"abc"


@BACKENDS
async def test_ending_an_upload_at_its_offset_keeps_every_stored_byte(host: Host) -> None:
    """A deferred-length upload whose writer is gone is ended at the bytes stored: parts and
    the pending tail (S3) or the growing file (local disk) become the object, on_complete runs,
    a late PATCH is a conflict; ending again answers the same; an unwritten one ends empty."""
    payload = os.urandom(6 * MiB + 321)  # one whole part and a pending tail on S3
    location = await host.create(None)
    for offset, piece in ((0, payload[: 3 * MiB]), (3 * MiB, payload[3 * MiB :])):
        assert (await host.patch(location, offset, piece)).status_code == 204
    uploads = host.server.uploads(host.sessions, host.store)
    upload_id = location.rsplit("/", 1)[1]
    owner = UploadOwner(tenant_id="tenant-a")
    ended = await uploads.end(upload_id, owner)
    assert (ended.status, ended.length, ended.offset) == (UploadStatus.COMPLETED, len(payload),
                                                          len(payload))  # fmt: skip
    assert await read_object(host.store, ended.object_key) == payload
    assert await completed(host.sessions) == {upload_id: (ended.object_key, len(payload))}
    assert [info.key async for info in host.store.list("_tus/")] == []
    late = await host.patch(location, len(payload), b"late chunk")
    assert late.status_code == 409
    assert late.json()["type"].endswith("upload-completed")
    assert (await uploads.end(upload_id, owner)).status is UploadStatus.COMPLETED
    with pytest.raises(TusUploadNotFound):
        await uploads.end(upload_id, UploadOwner(tenant_id="tenant-b"))

    unwritten = (await host.create(None)).rsplit("/", 1)[1]
    empty = await uploads.end(unwritten, owner)
    assert (empty.status, empty.length) == (UploadStatus.COMPLETED, 0)
    assert await read_object(host.store, empty.object_key) == b""


@BACKENDS
async def test_the_sweep_ends_expired_uploads_when_the_host_keeps_them(host: Host) -> None:
    server = make_server(host.sessions, host.store, end_when_expired=True)
    uploads = server.uploads(host.sessions, host.store)
    location = await host.create(None)
    assert (await host.patch(location, 0, b"stored before the writer went")).status_code == 204
    assert (await uploads.sweep()).ended == 0  # not idle long enough
    result = await uploads.sweep(now=utcnow() + timedelta(days=2))
    assert (result.ended, result.removed) == (1, 0)
    key, size = (await completed(host.sessions))[location.rsplit("/", 1)[1]]
    assert size == len(b"stored before the writer went")
    assert await read_object(host.store, key) == b"stored before the writer went"


@BACKENDS
async def test_an_expired_upload_answers_410_before_the_sweep(
    sessions: async_sessionmaker[AsyncSession], storage: ObjectStore
) -> None:
    server = make_server(sessions, storage, expires_in=timedelta(seconds=1))
    async with (
        serving(make_app(server), lifespan="off") as url,
        httpx.AsyncClient(trust_env=False) as client,
    ):
        response = await client.post(f"{url}/v1/uploads", headers={**TENANT, "Upload-Length": "10"})
        location = response.headers["location"]
        await asyncio.sleep(1.2)
        assert (await client.head(location, headers=TENANT)).status_code == 410


async def stalling_body(release: asyncio.Event) -> AsyncIterator[bytes]:
    """1,000 bytes, then (once ``release`` is set) 1,000 more: a request that stays writing."""
    yield b"a" * 1000
    await release.wait()
    yield b"b" * 1000


@BACKENDS
async def test_a_second_writer_is_refused_while_the_first_streams(host: Host) -> None:
    location = await host.create(4 * MiB)
    release = asyncio.Event()

    first = asyncio.create_task(host.patch(location, 0, stalling_body(release)))
    await asyncio.sleep(0.3)
    second = await host.patch(location, 0, b"c" * 10)
    assert second.status_code == 423
    assert second.json()["type"] == "/problems/upload-locked"
    deleted = await host.client.delete(location, headers=TENANT)
    assert deleted.status_code == 423
    release.set()
    assert (await first).status_code == 204
    assert await host.offset(location) == 2000


@BACKENDS
async def test_head_waits_for_the_writing_request_to_end(host: Host) -> None:
    """A client resuming after a broken connection asks HEAD while the server may still be
    saving what arrived: HEAD answers with the offset that request ends at."""
    location = await host.create(4 * MiB)
    release = asyncio.Event()

    patch = asyncio.create_task(host.patch(location, 0, stalling_body(release)))
    await asyncio.sleep(0.3)
    head = asyncio.create_task(host.offset(location))
    await asyncio.sleep(0.5)
    assert not head.done()
    release.set()
    assert await head == 2000
    assert (await patch).status_code == 204


@pytest.mark.parametrize(("database_url", "storage_backend"), [("sqlite", "local")], indirect=True)
async def test_local_disk_records_progress_while_the_body_streams(
    sessions: async_sessionmaker[AsyncSession], storage: ObjectStore
) -> None:
    """Local disk appends to one file and records the offset at checkpoints: what HEAD reports
    mid-request (and after a crash) is on disk; a second open writer is refused (423)."""
    assert isinstance(storage, LocalDiskStore)
    # HEAD answers at once here, without waiting for the streaming PATCH to end.
    server = make_server(
        sessions, storage, checkpoint_bytes=MiB, head_waits_for_writer=timedelta(0)
    )
    payload = os.urandom(9 * MiB)
    release = asyncio.Event()

    async def stalling() -> AsyncIterator[bytes]:
        for start in range(0, len(payload), 256 * 1024):
            yield payload[start : start + 256 * 1024]
        await release.wait()

    async with (
        serving(make_app(server), lifespan="off") as url,
        httpx.AsyncClient(trust_env=False, timeout=30) as client,
    ):
        host = Host(server, sessions, storage, client, url)
        location = await host.create(20 * MiB)
        patch = asyncio.create_task(host.patch(location, 0, stalling()))
        recorded = 0
        for _ in range(100):  # the body stalls at 9 MiB: what was written (in 4 MiB writes)
            recorded = await host.offset(location)  # is recorded, the rest is in memory
            if recorded >= 8 * MiB:
                break
            await asyncio.sleep(0.05)
        assert 8 * MiB <= recorded < 9 * MiB
        release.set()
        assert (await patch).status_code == 204
        assert await host.offset(location) == 9 * MiB
        upload_id = location.rsplit("/", 1)[1]
        async with unit_of_work(sessions) as session:
            record = await get_upload(session, upload_id)
        assert record is not None
        assert record.multipart_id is not None
        # A writer left over from elsewhere (a request that lost its lease) holds the file.
        stray = await storage.open_append(record.object_key, record.multipart_id, 9 * MiB)
        try:
            locked = await host.patch(location, 9 * MiB, b"x")
        finally:
            stray.close()
        assert locked.status_code == 423
        rest = os.urandom(11 * MiB)
        assert (await host.patch(location, 9 * MiB, rest)).status_code == 204
    key, size = (await completed(sessions))[upload_id]
    assert size == 20 * MiB
    assert await read_object(storage, key) == payload + rest


@BACKENDS
async def test_another_tenant_sees_nothing(host: Host) -> None:
    location = await host.create(10)
    other = {**TUS_HEADERS, "X-Tenant": "tenant-b"}
    assert (await host.client.head(location, headers=other)).status_code == 404
    response = await host.client.patch(
        location, content=b"x", headers={**other, **OFFSET_TYPE, "Upload-Offset": "0"}
    )
    assert response.status_code == 404
    assert (await host.client.delete(location, headers=other)).status_code == 404
    assert (await host.client.head(location, headers=TUS_HEADERS)).status_code == 401


@BACKENDS
async def test_creation_with_upload_and_pre_create(host: Host) -> None:
    payload = os.urandom(1000)
    response = await host.client.post(
        f"{host.url}/v1/uploads",
        content=payload[:600],
        headers={**TENANT, **OFFSET_TYPE, "Upload-Length": "1000"},
    )
    assert response.status_code == 201
    assert response.headers["upload-offset"] == "600"
    location = response.headers["location"]
    assert (await host.patch(location, 600, payload[600:])).status_code == 204
    key, _ = (await completed(host.sessions))[location.rsplit("/", 1)[1]]
    assert await read_object(host.store, key) == payload
    refused = await host.client.post(
        f"{host.url}/v1/uploads",
        headers={
            **TENANT,
            "Upload-Length": "5",
            "Upload-Metadata": f"filename {b64(b'forbidden.exe')}",
        },
    )
    assert refused.status_code == 422
    bad_metadata = await host.client.post(
        f"{host.url}/v1/uploads",
        headers={**TENANT, "Upload-Length": "5", "Upload-Metadata": "filename not-base64!"},
    )
    assert bad_metadata.status_code == 400


@BACKENDS
async def test_deferred_length_is_set_by_a_later_patch(host: Host) -> None:
    payload = os.urandom(7 * MiB)
    location = await host.create(None)
    head = await host.client.head(location, headers=TENANT)
    assert head.headers["upload-defer-length"] == "1"
    assert (await host.patch(location, 0, payload[: 6 * MiB])).status_code == 204
    response = await host.patch(
        location, 6 * MiB, payload[6 * MiB :], **{"Upload-Length": str(len(payload))}
    )
    assert response.status_code == 204
    key, size = (await completed(host.sessions))[location.rsplit("/", 1)[1]]
    assert size == len(payload)
    assert await read_object(host.store, key) == payload


@BACKENDS
async def test_an_empty_upload_completes_at_creation(host: Host) -> None:
    location = await host.create(0)
    key, size = (await completed(host.sessions))[location.rsplit("/", 1)[1]]
    assert size == 0
    assert await read_object(host.store, key) == b""
    assert await host.offset(location) == 0


@BACKENDS
async def test_location_follows_the_proxy_in_front(host: Host) -> None:
    response = await host.client.post(
        f"{host.url}/v1/uploads/",
        headers={
            **TENANT,
            "Upload-Length": "5",
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": "media.example.test, internal",
            "X-Forwarded-Prefix": "/api",
        },
    )
    location = response.headers["location"]
    assert location.startswith("https://media.example.test/api/v1/uploads/")
    server = make_server(
        host.sessions, host.store, public_base_url="https://cdn.example.test/v1/uploads/"
    )
    async with serving(make_app(server), lifespan="off") as url:
        response = await host.client.post(
            f"{url}/v1/uploads", headers={**TENANT, "Upload-Length": "5"}
        )
    assert response.headers["location"].startswith("https://cdn.example.test/v1/uploads/0")


@BACKENDS
async def test_part_size_keeps_under_the_part_limit(
    sessions: async_sessionmaker[AsyncSession], storage: ObjectStore
) -> None:
    server = make_server(sessions, storage, max_parts=2, max_size=1024**3)
    payload = os.urandom(13 * MiB)
    async with (
        serving(make_app(server), lifespan="off") as url,
        httpx.AsyncClient(trust_env=False, timeout=30) as client,
    ):
        response = await client.post(
            f"{url}/v1/uploads", headers={**TENANT, "Upload-Length": str(len(payload))}
        )
        location = response.headers["location"]
        response = await client.patch(
            location,
            content=payload[: 10 * MiB],
            headers={**TENANT, **OFFSET_TYPE, "Upload-Offset": "0"},
        )
        upload_id = location.rsplit("/", 1)[1]
        async with unit_of_work(sessions) as session:
            record = await get_upload(session, upload_id)
        assert record is not None
        assert record.multipart_id is not None
        # ceil(13 MiB / 2) rounded up to whole MiB: every part but the last that size.
        assert record.part_size == 7 * MiB
        listed = await storage.list_parts(record.object_key, record.multipart_id)
        if isinstance(storage, LocalDiskStore):  # one growing file, no parts
            assert (listed, record.offset) == ([], 10 * MiB)
        else:
            assert [(p.part_number, p.size) for p in listed] == [(1, 7 * MiB)]
        response = await client.patch(
            location,
            content=payload[10 * MiB :],
            headers={**TENANT, **OFFSET_TYPE, "Upload-Offset": str(10 * MiB)},
        )
        assert response.status_code == 204
    assert await read_object(storage, record.object_key) == payload
    assert TusSettings(max_parts=10_000).part_size(50 * 1024**3) == 6 * MiB
    assert TusSettings(max_parts=1_000).part_size(50 * 1024**3) == 52 * MiB


async def test_the_migration_helper_builds_the_declared_table(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    engine = sessions.kw["bind"]
    assert await schema_drift(engine, SERVICE, metadata) == []


def test_metadata_and_checksum_headers_parse_strictly() -> None:
    assert parse_metadata("a YQ==, b") == {"a": "a", "b": None}
    for bad in ("a YQ== extra", "a YQ==,a YQ==", "a %%%", ",", "a /w=="):
        with pytest.raises(InvalidTusRequest):
            parse_metadata(bad)
    digest = hashlib.sha1(b"x", usedforsecurity=False).digest()
    checksum = parse_checksum(f"SHA1 {b64(digest)}", ("sha1",))
    assert checksum == Checksum("sha1", digest)
    for bad in ("sha1 AAAA", "sha1", "crc32 AAAA", f"sha256 {b64(digest)}"):
        with pytest.raises(InvalidTusRequest):
            parse_checksum(bad, ("sha1", "sha256"))


class TusSampleSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="V100_TUSSAMPLE_", extra="ignore")
    service: ClassVar[str] = SERVICE


async def test_a_kit_service_mounts_it_with_the_runtime_and_the_caller(tmp_path: Path) -> None:
    platform = PlatformSettings(var_dir=tmp_path, internal_token_secret="s" * 32)
    settings = TusSampleSettings(
        platform=platform, database_url=f"sqlite+aiosqlite:///{tmp_path}/tus.db"
    )
    uploads = TusServer(on_complete=record_completion)  # runtime backends, the token's caller
    app = create_service_app(
        ServiceSpec(
            settings,
            title="tussample",
            database=DatabaseSpec(metadata, MIGRATIONS),
            storage=StorageSpec(),
            body_limits={"/v1/uploads": uploads.settings.max_size},
        )
    )
    app.router.routes.extend(uploads.routes("/v1/uploads", scope="videos:write"))
    payload = os.urandom(6 * MiB)
    writer = Principal(tenant_id="t1", user_id="u1", scopes=frozenset({"videos:write"}))
    async with running_app(app) as client:
        caller = {**auth_headers(app, writer), **TUS_HEADERS}
        created = await client.post(
            "/v1/uploads", headers={**caller, "Upload-Length": str(len(payload))}
        )
        assert created.status_code == 201, created.text
        location = created.headers["location"]
        assert location.startswith("http://service/v1/uploads/")
        patched = await client.patch(
            location, content=payload, headers={**caller, **OFFSET_TYPE, "Upload-Offset": "0"}
        )
        assert patched.status_code == 204, patched.text
        stranger = {**auth_headers(app, replace(writer, tenant_id="t2")), **TUS_HEADERS}
        assert (await client.head(location, headers=stranger)).status_code == 404
        reader = {**auth_headers(app, replace(writer, scopes=frozenset({"videos:read"})))}
        refused = await client.head(location, headers={**reader, **TUS_HEADERS})
        assert refused.status_code == 403  # the route's scope, checked before tus runs
        assert (await client.head(location, headers=TUS_HEADERS)).status_code == 401
        runtime = app.state.runtime
        key, size = (await completed(runtime.sessions))[location.rsplit("/", 1)[1]]
        assert size == len(payload)
        assert await read_object(runtime.storage, key) == payload
