"""Fixtures for object storage: ``storage`` runs a test on local disk (under ``tmp_path``) and,
when ``V100_TEST_S3_*`` is set (scripts/services/seaweedfs.sh start), on real S3 under a key
prefix of the test's own, emptied afterwards (``empty_s3_prefix``). ``storage_http`` fetches
presigned URLs."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from starlette.applications import Starlette

from v100.kit.storage import MIN_PART_SIZE, LocalDiskStore, ObjectStore, S3Store, presigned_routes

if TYPE_CHECKING:
    from types_aiobotocore_s3.type_defs import ObjectIdentifierTypeDef

__all__ = [
    "STORAGE_BACKENDS",
    "StoreFactory",
    "empty_s3_prefix",
    "s3_settings_or_skip",
    "storage",
    "storage_backend",
    "storage_factory",
    "storage_http",
]

STORAGE_BACKENDS = ["local", "s3"]
S3_ENV = {
    "endpoint_url": "V100_TEST_S3_ENDPOINT",
    "access_key_id": "V100_TEST_S3_ACCESS_KEY_ID",
    "secret_access_key": "V100_TEST_S3_SECRET_ACCESS_KEY",
    "bucket": "V100_TEST_S3_BUCKET",
}
# Fixed, so a store made again (a simulated restart) accepts links the first one signed.
_SIGNING_KEY = b"v100-test-presign-key-0123456789"

StoreFactory = Callable[[], ObjectStore]


def s3_settings_or_skip() -> dict[str, str]:
    values = {name: os.environ.get(env, "") for name, env in S3_ENV.items()}
    missing = [S3_ENV[name] for name, value in values.items() if not value]
    if missing:
        pytest.skip(f"{', '.join(missing)} not set (scripts/services/seaweedfs.sh start)")
    return values


@pytest.fixture(params=STORAGE_BACKENDS)
def storage_backend(request: pytest.FixtureRequest) -> str:
    backend: str = request.param
    if backend == "s3":
        s3_settings_or_skip()
    return backend


@pytest.fixture
async def storage_factory(storage_backend: str, tmp_path: Path) -> AsyncIterator[StoreFactory]:
    """Makes stores over the same objects; a test calls it again to simulate a restart."""
    made: list[ObjectStore] = []
    if storage_backend == "local":
        root = tmp_path / "objects"

        def make() -> ObjectStore:
            made.append(LocalDiskStore(root, signing_key=_SIGNING_KEY))
            return made[-1]
    else:
        s3 = s3_settings_or_skip()
        prefix = f"v100test-{uuid.uuid4().hex[:12]}/"

        def make() -> ObjectStore:
            made.append(
                S3Store(
                    s3["bucket"],
                    prefix=prefix,
                    endpoint_url=s3["endpoint_url"],
                    access_key_id=s3["access_key_id"],
                    secret_access_key=s3["secret_access_key"],
                    # The smallest legal part, so a test's stream spans several parts.
                    part_size=MIN_PART_SIZE,
                )
            )
            return made[-1]

    yield make
    if storage_backend == "s3":
        await empty_s3_prefix(prefix)
    for store in made:
        await store.close()


async def empty_s3_prefix(prefix: str) -> None:
    """Delete every object under ``prefix`` in the test bucket and abort the multipart uploads
    left unfinished there: what a test that used S3 leaves behind."""
    s3 = s3_settings_or_skip()
    cleaner = S3Store(
        s3["bucket"],
        prefix=prefix,
        endpoint_url=s3["endpoint_url"],
        access_key_id=s3["access_key_id"],
        secret_access_key=s3["secret_access_key"],
    )
    try:
        client = await cleaner._client()
        # One listing page (up to 1,000 keys) and one batch delete at a time.
        pages = client.get_paginator("list_objects_v2").paginate(
            Bucket=cleaner.bucket, Prefix=prefix
        )
        async for page in pages:
            keys: list[ObjectIdentifierTypeDef] = [
                {"Key": item["Key"]} for item in page.get("Contents", [])
            ]
            if keys:
                await client.delete_objects(
                    Bucket=cleaner.bucket, Delete={"Objects": keys, "Quiet": True}
                )
        pending = await client.list_multipart_uploads(Bucket=cleaner.bucket, Prefix=prefix)
        for upload in pending.get("Uploads", []):
            await client.abort_multipart_upload(
                Bucket=cleaner.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
            )
    finally:
        await cleaner.close()


@pytest.fixture
async def storage(storage_factory: StoreFactory) -> ObjectStore:
    store = storage_factory()
    await store.ensure_bucket()
    return store


@pytest.fixture
async def storage_http(storage: ObjectStore) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for ``storage``'s presigned URLs: the local backend's routes in a
    Starlette app (in-process), or the S3 server itself (never a proxy from the environment)."""
    if isinstance(storage, LocalDiskStore):
        app = Starlette(routes=presigned_routes(storage))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client
    else:
        async with httpx.AsyncClient(trust_env=False) as client:
            yield client
