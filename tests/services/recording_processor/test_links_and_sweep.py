"""Presigned download links work without credentials and only as signed; metadata bodies are
bounded; the sweep errors a recording whose processing job ended without settling it (its
last runner died), so no recording stays ``processing`` for ever; and the hourly sweep aborts
the object store's multipart uploads left untouched past ``orphaned_upload_seconds``."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import column, table, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from v100.kit.db import unit_of_work, utcnow
from v100.kit.jobs import JOB_TABLE, JobContext, JobTask
from v100.kit.storage import ObjectStore, UploadNotFound
from v100.services.recording_processor import tasks
from v100.services.recording_processor.models import Recording

from .conftest import Deploy

pytestmark = [pytest.mark.slow, pytest.mark.time_sensitive]

JOBS = table(JOB_TABLE, column("id"), column("status"), column("last_error"))


def _run_by_hand(task: JobTask, sessions: async_sessionmaker[AsyncSession]) -> JobContext:
    async def written(_: int) -> bool:
        return True

    return JobContext(
        id="sweep", task=task.name, service="recording_processor", attempt=1, max_attempts=1,
        tenant_id=None, sessions=sessions, write_progress=written, progress_interval=1.0,
    )  # fmt: skip


async def test_a_download_link_is_the_credential_and_cannot_be_altered(
    deploy: Deploy, webm: bytes
) -> None:
    async with deploy() as service:
        recording_id = (await service.create("Board meeting"))["id"]
        assert (await service.put_content(recording_id, webm)).status_code == 202
        body = await service.wait_settled(recording_id)
        links = {link["kind"]: link for link in body["downloads"]}
        source = links["source"]
        assert source["size"] == len(webm)
        assert source["expires_at"] > body["updated_at"]
        ranged = await service.download(source["url"])
        assert ranged.status_code == 200
        # One byte changed in the signed part: refused (local HMAC or S3 SigV4 alike).
        url = source["url"]
        cut = url.rindex("=") + 2 if service.stack == "distributed" else len(url) - 3
        tampered = url[:cut] + ("A" if url[cut] != "A" else "B") + url[cut + 1 :]
        assert (await service.download(tampered)).status_code in (401, 403)


async def test_metadata_is_at_most_64_kib(deploy: Deploy) -> None:
    async with deploy() as service:
        headers = service.headers(**{"Idempotency-Key": "big", "Content-Type": "application/json"})
        body = b'{"title": "' + b"a" * 70_000 + b'"}'
        response = await service.http.post("/v1/recordings", content=body, headers=headers)
        assert response.status_code == 413
        listed = await service.http.get("/v1/recordings", headers=service.headers())
        assert listed.json()["items"] == []


async def test_the_sweep_errors_a_recording_whose_job_died_for_good(
    deploy: Deploy, webm: bytes
) -> None:
    async with deploy() as service:
        recording_id = (await service.create())["id"]
        assert (await service.put_content(recording_id, webm)).status_code == 202
        await service.wait_settled(recording_id)
        sessions = service.app.state.runtime.sessions
        # As the queue leaves things when the last attempt's runner died mid-way.
        async with unit_of_work(sessions) as session:
            recording = await session.get(Recording, recording_id)
            assert recording is not None
            recording.status, recording.stage = "processing", "transcoding"
            await session.execute(
                update(JOBS)
                .where(JOBS.c.id == recording.job_id)
                .values(status="failed", last_error="runner stopped heartbeating")
            )

        await tasks.settle_abandoned.fn(_run_by_hand(tasks.settle_abandoned, sessions))
        body = (await service.get(recording_id)).json()
        assert body["status"] == "errored"
        assert body["error"]["type"] == "/problems/recording-processing-failed"
        assert "runner stopped heartbeating" in body["error"]["detail"]
        assert (await service.events(recording_id))[-1].type == "recording.errored"


# The local disk dates an upload by its files' modification times: the kernel's clock, which a
# shifted test clock does not move.
@pytest.mark.real_clock
async def test_the_hourly_sweep_aborts_multipart_uploads_left_untouched(
    deploy: Deploy, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with deploy() as service:
        store: ObjectStore = service.app.state.runtime.storage
        # Any service's upload (the store is shared): here one whose owner went away.
        upload_id = await store.create_multipart("uploads/abandoned.bin")
        await store.upload_part("uploads/abandoned.bin", upload_id, 1, b"never completed")
        job = _run_by_hand(tasks.sweep_orphaned_uploads, service.app.state.runtime.sessions)
        assert tasks.sweep_orphaned_uploads.interval == 3600

        await tasks.sweep_orphaned_uploads.fn(job)  # untouched for a moment only: kept
        assert len(await store.list_parts("uploads/abandoned.bin", upload_id)) == 1

        bound = timedelta(seconds=service.settings.orphaned_upload_seconds)
        later = utcnow() + bound + timedelta(minutes=1)
        monkeypatch.setattr(tasks, "utcnow", lambda: later)
        await tasks.sweep_orphaned_uploads.fn(job)
        with pytest.raises(UploadNotFound):
            await store.list_parts("uploads/abandoned.bin", upload_id)
