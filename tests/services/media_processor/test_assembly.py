"""Chunk assembly on both backends: parts in any order and re-sent, joined by the object store
(on local disk with ``os.copy_file_range``: zero copy), size and sha256 checked, missing parts
listed, a mismatch discarding everything, and an assembled video processed as an input."""

from __future__ import annotations

import hashlib
import os
import random
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from v100.kit.storage import MIN_PART_SIZE

from .support import MediaApp, new_tenant

# One app per backend for the module (conftest.py): its tests run on the module's loop.
pytestmark = pytest.mark.asyncio(loop_scope="module")

MiB = 1024 * 1024


def _parts(seed: int) -> list[bytes]:
    """5 MiB, 5 MiB and a short last part of distinct bytes."""
    rng = random.Random(seed)
    return [rng.randbytes(MIN_PART_SIZE), rng.randbytes(MIN_PART_SIZE), rng.randbytes(12_345)]


async def _create(mp: MediaApp, tenant: str, **body: Any) -> httpx.Response:
    return await mp.http.post(
        "/v1/media/assemblies",
        json=body,
        headers=mp.headers(tenant, **{"Idempotency-Key": uuid.uuid4().hex}),
    )


async def _put(mp: MediaApp, tenant: str, assembly_id: str, n: int, data: bytes) -> httpx.Response:
    return await mp.http.put(
        f"/v1/media/assemblies/{assembly_id}/parts/{n}", content=data, headers=mp.headers(tenant)
    )


async def _complete(mp: MediaApp, tenant: str, assembly_id: str) -> httpx.Response:
    return await mp.http.post(
        f"/v1/media/assemblies/{assembly_id}/complete", headers=mp.headers(tenant)
    )


async def test_parts_in_any_order_join_into_a_verified_input(
    mp: MediaApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    copied: list[int] = []
    real = os.copy_file_range

    def counting(src: int, dst: int, count: int, offset_src: int | None = None) -> int:
        done = real(src, dst, count, offset_src)
        copied.append(done)
        return done

    monkeypatch.setattr(os, "copy_file_range", counting)
    tenant = new_tenant()
    parts = _parts(1)
    whole = b"".join(parts)
    created = await _create(
        mp, tenant, parts=3, name="joined.bin", total_size=len(whole),
        sha256=hashlib.sha256(whole).hexdigest(), content_type="application/octet-stream",
    )  # fmt: skip
    assert created.status_code == 201, created.text
    assembly = created.json()
    assert (assembly["status"], assembly["received"]) == ("open", [])

    # Out of order, part 2 first sent wrong and then again.
    for n, data in ((3, parts[2]), (2, _parts(2)[1]), (1, parts[0]), (2, parts[1])):
        answer = await _put(mp, tenant, assembly["id"], n, data)
        assert answer.status_code == 200, answer.text
        assert answer.json()["size"] == len(data)
    shown = await mp.http.get(f"/v1/media/assemblies/{assembly['id']}", headers=mp.headers(tenant))
    assert shown.json()["received"] == [1, 2, 3]

    done = await _complete(mp, tenant, assembly["id"])
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "completed"
    assert done.json()["size"] == len(whole)
    again = await _complete(mp, tenant, assembly["id"])
    assert again.status_code == 200
    assert again.json()["status"] == "completed"

    joined = await mp.http.get("/v1/media/inputs/joined.bin", headers=mp.headers(tenant))
    assert joined.status_code == 200
    assert joined.json()["size"] == len(whole)
    assert joined.json()["sha256"] == hashlib.sha256(whole).hexdigest()
    storage = mp.app.state.runtime.storage
    key = f"media/{tenant}/assemblies/{assembly['id']}"
    assert await storage.get(key) == whole
    if mp.settings.platform.storage_url.startswith("file://"):
        assert sum(copied) == len(whole)  # every byte joined by the kernel

    late = await _put(mp, tenant, assembly["id"], 3, parts[2])
    assert late.status_code == 409
    assert late.json()["type"] == "/problems/assembly-not-open"


async def test_missing_parts_are_listed(mp: MediaApp) -> None:
    tenant = new_tenant()
    assembly = (await _create(mp, tenant, parts=3)).json()
    assert (await _put(mp, tenant, assembly["id"], 1, _parts(3)[0])).status_code == 200
    answer = await _complete(mp, tenant, assembly["id"])
    assert answer.status_code == 409
    assert answer.json()["type"] == "/problems/assembly-parts-missing"
    assert answer.json()["missing"] == [2, 3]
    shown = await mp.http.get(f"/v1/media/assemblies/{assembly['id']}", headers=mp.headers(tenant))
    assert shown.json()["status"] == "open"


@pytest.mark.parametrize("wrong", ["sha256", "total_size"])
async def test_a_mismatch_is_422_and_keeps_nothing(mp: MediaApp, wrong: str) -> None:
    tenant = new_tenant()
    parts = _parts(4)
    whole = b"".join(parts)
    declared: dict[str, Any] = {
        "total_size": len(whole),
        "sha256": hashlib.sha256(whole).hexdigest(),
    }
    declared[wrong] = "0" * 64 if wrong == "sha256" else len(whole) + 1
    assembly = (await _create(mp, tenant, parts=3, name="bad.bin", **declared)).json()
    for n, data in enumerate(parts, start=1):
        assert (await _put(mp, tenant, assembly["id"], n, data)).status_code == 200
    answer = await _complete(mp, tenant, assembly["id"])
    assert answer.status_code == 422, answer.text
    assert answer.json()["type"] == "/problems/assembly-mismatch"
    assert (
        await mp.http.get("/v1/media/inputs/bad.bin", headers=mp.headers(tenant))
    ).status_code == 404
    storage = mp.app.state.runtime.storage
    assert [o async for o in storage.list(f"media/{tenant}/")] == []
    failed = await mp.http.get(f"/v1/media/assemblies/{assembly['id']}", headers=mp.headers(tenant))
    assert failed.json()["status"] == "failed"
    assert (await _complete(mp, tenant, assembly["id"])).status_code == 409


async def test_part_rules(mp: MediaApp) -> None:
    tenant = new_tenant()
    assembly = (await _create(mp, tenant, parts=2)).json()
    small = await _put(mp, tenant, assembly["id"], 1, b"x" * 1000)
    assert small.status_code == 422
    assert small.json()["type"] == "/problems/assembly-part-too-small"
    beyond = await _put(mp, tenant, assembly["id"], 3, b"x")
    assert beyond.status_code == 422
    assert beyond.json()["type"] == "/problems/assembly-part-out-of-range"
    other = await _put(mp, new_tenant(), assembly["id"], 2, b"x")
    assert other.status_code == 404
    too_many = await _create(mp, tenant, parts=10_001)
    assert too_many.status_code == 422


async def test_create_is_idempotent(mp: MediaApp) -> None:
    tenant = new_tenant()
    headers = mp.headers(tenant, **{"Idempotency-Key": "assembly-1"})
    first = await mp.http.post("/v1/media/assemblies", json={"parts": 2}, headers=headers)
    again = await mp.http.post("/v1/media/assemblies", json={"parts": 2}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert again.headers.get("Idempotent-Replayed") == "true"


async def test_an_assembled_video_is_an_input_for_jobs(
    mp: MediaApp, small_video: bytes, tmp_path: Path
) -> None:
    tenant = new_tenant()
    assembly = (await _create(mp, tenant, parts=1, name="upload.mp4",
                              sha256=hashlib.sha256(small_video).hexdigest())).json()  # fmt: skip
    assert (await _put(mp, tenant, assembly["id"], 1, small_video)).status_code == 200
    assert (await _complete(mp, tenant, assembly["id"])).status_code == 200
    job = await mp.run(tenant, {"input": "upload.mp4", "operation": "extract_audio"})
    assert job["status"] == "succeeded", job
    assert job["output"]["duration"] == pytest.approx(3.0, abs=0.1)
