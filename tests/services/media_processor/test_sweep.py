"""The minute sweep: a media job whose queue job failed for good without settling it (its last
runner died mid-way) ends ``failed`` with the queue's reason, announced; settled ones stay."""

from __future__ import annotations

import pytest
from sqlalchemy import column, table, update

from v100.contracts.events import MEDIA_JOB_FAILED
from v100.kit.db import unit_of_work
from v100.kit.jobs import JOB_TABLE, JobContext
from v100.services.media_processor import tasks
from v100.services.media_processor.models import MediaJob

from .support import MediaApp, new_tenant

# One app per backend for the module (conftest.py): its tests run on the module's loop.
pytestmark = pytest.mark.asyncio(loop_scope="module")

JOBS = table(JOB_TABLE, column("id"), column("status"), column("last_error"))


async def _sweep(mp: MediaApp) -> None:
    async def written(_: int) -> bool:
        return True

    job = JobContext(
        id="sweep", task=tasks.settle_abandoned.name, service="media_processor", attempt=1,
        max_attempts=1, tenant_id=None, sessions=mp.app.state.runtime.sessions,
        write_progress=written, progress_interval=1.0,
    )  # fmt: skip
    await tasks.settle_abandoned.fn(job)


async def test_the_sweep_fails_a_job_whose_runner_died_for_good(
    mp: MediaApp, small_video: bytes
) -> None:
    tenant = new_tenant()
    assert (await mp.put_input(tenant, "v.mp4", small_video)).status_code == 200
    done = await mp.run(tenant, {"input": "v.mp4", "operation": "thumbnail"})
    assert done["status"] == "succeeded"
    lost = await mp.run(tenant, {"input": "v.mp4", "operation": "extract_audio"})
    await _sweep(mp)
    assert (await mp.wait(tenant, done["id"]))["status"] == "succeeded"  # settled: untouched

    # As the queue leaves things when the last attempt's runner died mid-way.
    async with unit_of_work(mp.app.state.runtime.sessions) as session:
        row = await session.get(MediaJob, lost["id"])
        assert row is not None
        row.status, row.percent = "running", 40
        await session.execute(
            update(JOBS)
            .where(JOBS.c.id == row.job_id)
            .values(status="failed", last_error="runner stopped heartbeating")
        )
    await _sweep(mp)
    job = await mp.wait(tenant, lost["id"])
    assert job["status"] == "failed"
    assert job["error"]["type"] == "/problems/processing-failed"
    assert "runner stopped heartbeating" in job["error"]["detail"]
    assert (await mp.events(lost["id"]))[-1].type == MEDIA_JOB_FAILED
