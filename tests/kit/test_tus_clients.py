"""The real tuspy client against kit.tus on a real uvicorn, through a TCP forwarder that breaks
the connection mid-PATCH: the upload resumes (after the break, or after the server is replaced
by a new process state) to an object byte-identical to the file, on SQLite + local disk and
PostgreSQL + S3."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tusclient import client as tus_client
from tusclient.exceptions import TusCommunicationError, TusUploadFailed
from tusclient.storage.filestorage import FileStorage

from v100.kit.db import create_sessionmaker
from v100.kit.testing.db import migrated_engine
from v100.kit.testing.servers import serving
from v100.kit.testing.storage import StoreFactory

from .tus_sample import (
    MIGRATIONS,
    SERVICE,
    TUS_HEADERS,
    BudgetProxy,
    MiB,
    completed,
    make_app,
    make_server,
    metadata,
    read_object,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.parametrize(
        ("database_url", "storage_backend"),
        [("sqlite", "local"), ("postgres", "s3")],
        indirect=True,
    ),
]
TENANT = {"X-Tenant": "tenant-a"}


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    async with migrated_engine(SERVICE, database_url, MIGRATIONS, metadata) as engine:
        yield create_sessionmaker(engine)


async def in_thread(fn: Callable[[], Any], within: float = 120) -> Any:
    """tuspy is synchronous (requests): run it beside the server's event loop."""
    return await asyncio.wait_for(asyncio.to_thread(fn), within)


async def durable_offset(url: str, settle: float = 10.0) -> int:
    """HEAD until the offset stops moving: the server is done with the broken request."""
    async with httpx.AsyncClient(trust_env=False) as client:
        last, deadline = -1, asyncio.get_running_loop().time() + settle
        while True:
            response = await client.head(url, headers={**TENANT, **TUS_HEADERS})
            offset = int(response.headers["upload-offset"])
            if offset == last or asyncio.get_running_loop().time() > deadline:
                return offset
            last = offset
            await asyncio.sleep(0.3)


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


async def test_tuspy_resumes_after_the_connection_breaks(
    sessions: async_sessionmaker[AsyncSession], storage_factory: StoreFactory, tmp_path: Path
) -> None:
    payload = os.urandom(14 * MiB + 321)
    source = tmp_path / "clip.bin"
    source.write_bytes(payload)
    store = storage_factory()
    await store.ensure_bucket()
    server = make_server(sessions, store, lease=timedelta(seconds=5))
    async with serving(make_app(server), lifespan="off") as url:
        proxy = BudgetProxy(("127.0.0.1", port_of(url)))
        await proxy.open()
        urls = FileStorage(str(tmp_path / "tus-urls.json"))
        client = tus_client.TusClient(f"{proxy.url}/v1/uploads", headers=TENANT)

        def uploader() -> Any:
            return client.uploader(
                str(source), metadata={"filename": "clip.bin"}, store_url=True, url_storage=urls
            )

        # One PATCH for the whole file (tuspy's default chunk size); cut 9 MiB in.
        proxy.budget = 9 * MiB
        first = await in_thread(uploader)
        with pytest.raises((TusUploadFailed, TusCommunicationError)):
            await in_thread(first.upload)
        assert proxy.cuts == 1
        offset = await durable_offset(first.url)
        # The whole first part, and the tail received before the break (kept as a pending
        # object), count: only the bytes in flight are lost.
        assert 5 * MiB < offset < 9 * MiB
        # A new uploader finds the upload by the file's fingerprint and HEADs its offset.
        second = await in_thread(uploader)
        assert second.url == first.url
        assert second.offset == offset
        await in_thread(second.upload)
    upload_id = first.url.rsplit("/", 1)[1]
    key, size = (await completed(sessions))[upload_id]
    assert size == len(payload)
    stored = await read_object(store, key)
    assert hashlib.sha256(stored).hexdigest() == hashlib.sha256(payload).hexdigest()


async def test_tuspy_resumes_on_a_restarted_server_with_checksums(
    database_url: str, storage_factory: StoreFactory, tmp_path: Path
) -> None:
    payload = os.urandom(13 * MiB + 5)
    source = tmp_path / "clip.bin"
    source.write_bytes(payload)
    urls = FileStorage(str(tmp_path / "tus-urls.json"))
    proxy: BudgetProxy | None = None

    def uploader(client: Any) -> Any:
        return client.uploader(
            str(source),
            chunk_size=4 * MiB,
            upload_checksum=True,  # sha1 per PATCH
            store_url=True,
            url_storage=urls,
        )

    # First process: the upload breaks 10 MiB in, inside the third 4 MiB chunk.
    async with migrated_engine(SERVICE, database_url, MIGRATIONS, metadata) as engine:
        store = storage_factory()
        await store.ensure_bucket()
        server = make_server(create_sessionmaker(engine), store, lease=timedelta(seconds=5))
        async with serving(make_app(server), lifespan="off") as url:
            proxy = BudgetProxy(("127.0.0.1", port_of(url)))
            await proxy.open()
            proxy.budget = 10 * MiB
            client = tus_client.TusClient(f"{proxy.url}/v1/uploads", headers=TENANT)
            first = await in_thread(lambda: uploader(client))
            with pytest.raises((TusUploadFailed, TusCommunicationError)):
                await in_thread(first.upload)
            # A chunk with a checksum counts whole or not at all: two chunks are durable.
            assert await durable_offset(first.url) == 8 * MiB
        await store.close()

    # Second process: new engine, new store object, new server on another port; the client
    # keeps the URL it stored (the forwarder stands for the stable public address).
    async with migrated_engine(SERVICE, database_url, MIGRATIONS, metadata) as engine:
        sessions = create_sessionmaker(engine)
        store = storage_factory()
        server = make_server(sessions, store)
        async with serving(make_app(server), lifespan="off") as url:
            proxy.target = ("127.0.0.1", port_of(url))
            client = tus_client.TusClient(f"{proxy.url}/v1/uploads", headers=TENANT)
            second = await in_thread(lambda: uploader(client))
            assert (second.url, second.offset) == (first.url, 8 * MiB)
            await in_thread(second.upload)
        await proxy.close()
        key, size = (await completed(sessions))[first.url.rsplit("/", 1)[1]]
        assert size == len(payload)
        stored = await read_object(store, key)
        assert hashlib.sha256(stored).hexdigest() == hashlib.sha256(payload).hexdigest()
