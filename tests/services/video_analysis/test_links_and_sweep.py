"""A keyframe's presigned link is the credential (no token needed, an altered one refused) and
expires when it says, counted from the app's clock; the sweep fails an analysis whose job ended
without settling it (its last runner died), so none stays ``running`` for ever, and says so
with ``analysis.failed``. (Clips are video_processing's, ADR 0060: its ``reconcile`` sweep
settles a clip whose runner died.)"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import column, table, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from v100.contracts.events import ANALYSIS_COMPLETED, ANALYSIS_FAILED
from v100.kit.db import unit_of_work, utcnow
from v100.kit.jobs import JOB_TABLE, JobContext, JobTask
from v100.media.testing import make_video
from v100.services.video_analysis import tasks
from v100.services.video_analysis.models import Analysis

from .support import Stack, new_tenant

pytestmark = [
    pytest.mark.slow,
    pytest.mark.time_sensitive,
    pytest.mark.asyncio(loop_scope="module"),
]

JOBS = table(JOB_TABLE, column("id"), column("status"), column("last_error"))


def _run_by_hand(task: JobTask, sessions: async_sessionmaker[AsyncSession]) -> JobContext:
    async def written(_: int) -> bool:
        return True

    return JobContext(
        id="sweep", task=task.name, service="video_analysis", attempt=1, max_attempts=1,
        tenant_id=None, sessions=sessions, write_progress=written, progress_interval=1.0,
    )  # fmt: skip


async def test_a_keyframe_link_is_the_credential_and_expires(stack: Stack, tmp_path: Path) -> None:
    va, tenant = stack.va, new_tenant()
    video = await stack.ready_video(tenant, make_video(tmp_path / "card.mp4", seconds=2))
    created = await va.create(tenant, {"video_id": video["id"], "stages": ["keyframes"]})
    done = await va.wait(tenant, created.json()["id"])
    assert done["status"] == "completed", done
    (keyframe,) = (await va.get(tenant, f"/v1/analyses/{done['id']}/keyframes")).json()["items"]
    expires_at = datetime.fromisoformat(keyframe["expires_at"])
    assert expires_at - utcnow() == pytest.approx(timedelta(seconds=3600), abs=timedelta(minutes=1))
    image = await va.download(keyframe["url"])
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/jpeg"
    if keyframe["url"].startswith("/v1/analyses/files/"):  # ours (S3 checks its own)
        forged = await va.download(keyframe["url"][:-4] + "AAAA")
        assert forged.status_code in (401, 403, 404)


async def test_the_sweep_fails_an_analysis_whose_job_died_for_good(
    stack: Stack, tmp_path: Path
) -> None:
    va, tenant = stack.va, new_tenant()
    video = await stack.ready_video(tenant, make_video(tmp_path / "card.mp4", seconds=2))
    created = await va.create(tenant, {"video_id": video["id"], "stages": ["scenes"]})
    analysis_id = created.json()["id"]
    assert (await va.wait(tenant, analysis_id))["status"] == "completed"
    sessions = va.app.state.runtime.sessions
    # As the queue leaves things when the last attempt's runner died mid-way.
    async with unit_of_work(sessions) as session:
        row = await session.get(Analysis, analysis_id)
        assert row is not None
        row.status, row.stage = "running", "scenes"
        await session.execute(
            update(JOBS)
            .where(JOBS.c.id == row.job_id)
            .values(status="failed", last_error="runner stopped heartbeating")
        )

    await tasks.settle_abandoned.fn(_run_by_hand(tasks.settle_abandoned, sessions))
    failed = (await va.get(tenant, f"/v1/analyses/{analysis_id}")).json()
    assert failed["status"] == "failed"
    assert failed["error"]["type"] == "/problems/analysis-failed"
    assert "runner stopped heartbeating" in failed["error"]["detail"]
    assert [e.type for e in await va.events(analysis_id)] == [ANALYSIS_COMPLETED, ANALYSIS_FAILED]
    # Settled: a second sweep changes nothing.
    await tasks.settle_abandoned.fn(_run_by_hand(tasks.settle_abandoned, sessions))
    assert len(await va.events(analysis_id)) == 2
