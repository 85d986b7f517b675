"""Abandoned chunk assemblies expire, on both backends: past ``expires_at`` (settings'
``assembly_ttl_seconds`` after creation) a PUT or completion answers 410 ``assembly-expired``
even before the sweep runs; the sweep (tasks.expire_assemblies) marks them ``expired`` and
aborts their multipart uploads, so no stored part is left; completed and unexpired assemblies
are untouched."""

from __future__ import annotations

import asyncio
import hashlib
import random
import uuid
from datetime import datetime

import pytest
from sqlalchemy import func, select

from v100.kit.db import unit_of_work, utcnow
from v100.kit.jobs import JobContext
from v100.kit.storage import MIN_PART_SIZE, UploadNotFound
from v100.kit.testing.http import running_app
from v100.services.media_processor import tasks
from v100.services.media_processor.app import create_app
from v100.services.media_processor.models import Assembly, AssemblyPart
from v100.services.media_processor.settings import MediaProcessorSettings

from .support import MediaApp, new_tenant

pytestmark = [pytest.mark.time_sensitive, pytest.mark.asyncio(loop_scope="module")]

TTL = 4


async def _sweep(mp: MediaApp) -> None:
    async def written(_: int) -> bool:
        return True

    job = JobContext(
        id="sweep", task=tasks.expire_assemblies.name, service="media_processor", attempt=1,
        max_attempts=1, tenant_id=None, sessions=mp.app.state.runtime.sessions,
        write_progress=written, progress_interval=1.0,
    )  # fmt: skip
    await tasks.expire_assemblies.fn(job)


async def _create(mp: MediaApp, tenant: str, parts: int, **body: object) -> dict:
    created = await mp.http.post(
        "/v1/media/assemblies",
        json={"parts": parts, **body},
        headers=mp.headers(tenant, **{"Idempotency-Key": uuid.uuid4().hex}),
    )
    assert created.status_code == 201, created.text
    return dict(created.json())


async def _put(mp: MediaApp, tenant: str, assembly_id: str, n: int, data: bytes) -> int:
    answer = await mp.http.put(
        f"/v1/media/assemblies/{assembly_id}/parts/{n}", content=data, headers=mp.headers(tenant)
    )
    return answer.status_code


async def test_an_abandoned_assembly_expires_and_its_parts_are_dropped(
    mp_settings: MediaProcessorSettings,
) -> None:
    settings = mp_settings.model_copy(update={"assembly_ttl_seconds": TTL})
    app = create_app(settings)
    async with running_app(app) as http:
        mp = MediaApp(app=app, http=http, settings=settings, billing=settings.billing_url)
        tenant = new_tenant()
        rng = random.Random(7)
        first, small = rng.randbytes(MIN_PART_SIZE), rng.randbytes(1000)

        abandoned = await _create(mp, tenant, 2)
        expires_at = datetime.fromisoformat(abandoned["expires_at"])
        created_at = datetime.fromisoformat(abandoned["created_at"])
        assert (expires_at - created_at).total_seconds() == pytest.approx(TTL, abs=1)
        assert await _put(mp, tenant, abandoned["id"], 1, first) == 200
        done = await _create(
            mp, tenant, 1, name="kept.bin", sha256=hashlib.sha256(small).hexdigest()
        )
        assert await _put(mp, tenant, done["id"], 1, small) == 200
        completed = await mp.http.post(
            f"/v1/media/assemblies/{done['id']}/complete", headers=mp.headers(tenant)
        )
        assert completed.status_code == 200, completed.text

        await asyncio.sleep(max(0.0, (expires_at - utcnow()).total_seconds()) + 0.2)
        # Past due, not swept yet: refused all the same.
        late = await mp.http.put(
            f"/v1/media/assemblies/{abandoned['id']}/parts/2",
            content=small,
            headers=mp.headers(tenant),
        )
        assert late.status_code == 410, late.text
        assert late.headers["content-type"] == "application/problem+json"
        assert late.json()["type"] == "/problems/assembly-expired"
        assert late.json()["expires_at"]
        fresh = await _create(mp, tenant, 1)  # created now: not due at the sweep

        await _sweep(mp)
        shown = await mp.http.get(
            f"/v1/media/assemblies/{abandoned['id']}", headers=mp.headers(tenant)
        )
        assert shown.json()["status"] == "expired"
        assert shown.json()["received"] is None
        assert "Expired" in shown.json()["error"]
        for answer in (
            await mp.http.put(
                f"/v1/media/assemblies/{abandoned['id']}/parts/1",
                content=first,
                headers=mp.headers(tenant),
            ),
            await mp.http.post(
                f"/v1/media/assemblies/{abandoned['id']}/complete", headers=mp.headers(tenant)
            ),
        ):
            assert answer.status_code == 410, answer.text
            assert answer.json()["type"] == "/problems/assembly-expired"

        # Its stored parts are gone from the store, and their records from the database.
        storage = app.state.runtime.storage
        async with unit_of_work(app.state.runtime.sessions) as session:
            row = await session.get(Assembly, abandoned["id"])
            assert row is not None
            key, upload_id = row.key, row.upload_id
            count = select(func.count()).where(AssemblyPart.assembly_id == abandoned["id"])
            assert (await session.execute(count)).scalar_one() == 0
        with pytest.raises(UploadNotFound):
            await storage.list_parts(key, upload_id)
        assert [o.key async for o in storage.list(f"media/{tenant}/")] == [
            f"media/{tenant}/assemblies/{done['id']}"
        ]

        # The completed one and the fresh one are untouched; the fresh one still takes parts.
        kept = await mp.http.get(f"/v1/media/assemblies/{done['id']}", headers=mp.headers(tenant))
        assert kept.json()["status"] == "completed"
        assert (
            await mp.http.get("/v1/media/inputs/kept.bin", headers=mp.headers(tenant))
        ).status_code == 200
        assert await _put(mp, tenant, fresh["id"], 1, small) == 200
        other = await mp.http.get(
            f"/v1/media/assemblies/{abandoned['id']}", headers=mp.headers(new_tenant())
        )
        assert other.status_code == 404
