"""Choosing and building a store: part sizing under S3's limits, storage URLs and settings,
the lazy S3 import, and what an unreachable backend raises."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from v100.kit.errors import BackendUnavailable
from v100.kit.settings import PlatformSettings
from v100.kit.storage import (
    MAX_PARTS,
    MIN_PART_SIZE,
    LocalDiskStore,
    S3Store,
    create_storage,
    part_size_for,
    storage_from_settings,
)

MiB = 1024 * 1024
TiB = 1024**4


# -- sizing -------------------------------------------------------------------------------


def test_part_size_for_five_tebibytes() -> None:
    size = part_size_for(5 * TiB)
    assert size >= MIN_PART_SIZE
    assert -(-5 * TiB // size) <= MAX_PARTS
    assert size % MiB == 0
    assert size < 5 * TiB // MAX_PARTS + MiB  # not wastefully large


def test_part_size_for_small_and_custom_limits() -> None:
    assert part_size_for(0) == MIN_PART_SIZE
    assert part_size_for(100 * MiB) == MIN_PART_SIZE
    assert part_size_for(1024 * MiB, max_parts=100) == 11 * MiB
    with pytest.raises(ValueError, match="over the"):
        part_size_for(MAX_PARTS * 5 * 1024 * MiB + 1)


@given(total=st.integers(0, 48 * TiB), max_parts=st.integers(1, 20_000))
def test_part_size_for_keeps_under_the_part_limit(total: int, max_parts: int) -> None:
    try:
        size = part_size_for(total, max_parts=max_parts)
    except ValueError:
        assert total > max_parts * 5 * 1024 * MiB
        return
    assert MIN_PART_SIZE <= size <= 5 * 1024 * MiB
    assert -(-total // size) <= max_parts


# -- construction -------------------------------------------------------------------------


def test_create_storage_from_urls(tmp_path: Path) -> None:
    absolute = create_storage(f"file://{tmp_path}/objects")
    assert isinstance(absolute, LocalDiskStore)
    assert absolute.root == tmp_path / "objects"
    relative = create_storage("file://var/objects")
    assert isinstance(relative, LocalDiskStore)
    assert relative.root == Path("var/objects")
    s3 = create_storage("s3://media/prod/v1", endpoint_url="http://127.0.0.1:1")
    assert isinstance(s3, S3Store)
    assert (s3.bucket, s3.prefix) == ("media", "prod/v1/")
    with pytest.raises(ValueError, match="unsupported"):
        create_storage("ftp://host/dir")
    with pytest.raises(ValueError, match="no bucket"):
        create_storage("s3:///key")


def test_storage_from_settings(tmp_path: Path) -> None:
    local = storage_from_settings(PlatformSettings(var_dir=tmp_path))
    assert isinstance(local, LocalDiskStore)
    assert local.root == tmp_path / "objects"
    remote = storage_from_settings(
        PlatformSettings(
            var_dir=tmp_path,
            storage_url="s3://bucket",
            s3_endpoint_url="http://127.0.0.1:58333",
            s3_access_key_id="id",
            s3_secret_access_key="secret",
        )
    )
    assert isinstance(remote, S3Store)
    assert remote.bucket == "bucket"


async def test_local_links_survive_a_restart(tmp_path: Path) -> None:
    settings = PlatformSettings(var_dir=tmp_path)
    first = storage_from_settings(settings)
    await first.ensure_bucket()
    await first.put("k", b"v")
    url = await first.presign_get("k", 60)
    # Another process of the same deployment derives the same signing key.
    second = storage_from_settings(PlatformSettings(var_dir=tmp_path))
    assert isinstance(second, LocalDiskStore)
    assert second.verify_presigned(url.rsplit("/", 1)[1], "GET").key == "k"


def test_s3_backend_is_imported_lazily() -> None:
    code = (
        "import sys\n"
        "from v100.kit.storage import create_storage\n"
        "create_storage('s3://bucket', endpoint_url='http://127.0.0.1:1')\n"
        "assert 'botocore' not in sys.modules and 'aioboto3' not in sys.modules, 'eager'\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=60)


async def test_unreachable_backends_are_unavailable(tmp_path: Path) -> None:
    # A port nothing listens on: connection refused, answered at once.
    s3 = S3Store(
        "b",
        endpoint_url="http://127.0.0.1:9",
        access_key_id="a",
        secret_access_key="b",
        max_attempts=1,
    )
    with pytest.raises(BackendUnavailable):
        await s3.ping()
    with pytest.raises(BackendUnavailable):
        await s3.get("k")
    await s3.close()
    local = LocalDiskStore(tmp_path / "missing")
    with pytest.raises(BackendUnavailable):
        await local.ping()
    await local.ensure_bucket()
    await local.ping()
