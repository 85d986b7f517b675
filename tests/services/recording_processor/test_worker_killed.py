"""A worker killed (SIGKILL, FFmpeg with it) in the middle of a transcode: the job is run again
by the next process and the recording ends ready with a complete MP4. Embedded, the killed
process is the whole service (``v100 serve``); distributed, it is a ``v100 worker``."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from v100.kit.auth import InternalTokens, Principal
from v100.kit.jobs import JobRecord, JobStatus
from v100.kit.testing.jobs import wait_for_job
from v100.kit.testing.processes import V100Process
from v100.media import probe
from v100.media.testing import make_video
from v100.services.recording_processor.models import Recording

from .conftest import Deploy, Stack, environment, in_process_worker
from .support import INTERNAL_SECRET, new_tenant

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def long_webm(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """Long enough that its transcode takes seconds on these cores."""
    path = tmp_path_factory.mktemp("long") / "long.webm"
    return make_video(path, seconds=16, width=640, height=360).read_bytes()


async def wait_for_transcoding(
    http: httpx.AsyncClient, path: str, headers: dict[str, str], log: Path
) -> None:
    deadline = asyncio.get_running_loop().time() + 60
    while asyncio.get_running_loop().time() < deadline:
        try:
            body = (await http.get(path, headers=headers)).json()
        except httpx.TransportError:
            body = {}
        if body.get("stage") == "transcoding" and body.get("percent", 0) >= 15:
            return
        assert body.get("status") not in ("ready", "errored"), body
        await asyncio.sleep(0.05)
    tail = (await asyncio.to_thread(log.read_text))[-3000:]
    raise AssertionError(f"the transcode did not start: {tail}")


async def test_a_worker_killed_mid_transcode_is_retried_to_a_complete_mp4(
    stack: Stack, deploy: Deploy, long_webm: bytes, tmp_path: Path
) -> None:
    tenant = new_tenant()
    token = InternalTokens(INTERNAL_SECRET, 300).mint(
        Principal(tenant_id=tenant, user_id="u1", scopes=frozenset({"*"}))
    )
    headers = {"Authorization": f"Bearer {token}"}
    log = tmp_path / "killed.log"
    if stack.distributed:
        async with deploy(worker=False, job_lease_seconds=2) as service:
            recording_id = await _upload(service.http, headers, long_webm)
            path = f"/v1/recordings/{recording_id}"
            env = os.environ | environment(stack, tmp_path)
            worker = V100Process(
                "worker", "recording_processor", "--concurrency", "1", env=env, log=log
            )
            async with worker:
                await wait_for_transcoding(service.http, path, headers, log)
                await worker.kill()
            async with in_process_worker(stack, service.app, service.settings, lease_seconds=2):
                body = await _settled(service.http, path, headers)
                job = await _finished_job(service.app.state.runtime.sessions, recording_id)
    else:
        env = os.environ | environment(stack, tmp_path, job_lease_seconds="2")
        async with V100Process("serve", "recording_processor", env=env, log=log) as served:
            async with httpx.AsyncClient(base_url=served.url, timeout=60) as http:
                recording_id = await _upload(http, headers, long_webm)
                path = f"/v1/recordings/{recording_id}"
                await wait_for_transcoding(http, path, headers, log)
            await served.kill()
        # The next start of the service finds the dead run and does the job again.
        async with deploy(job_lease_seconds=2) as service:
            body = await _settled(service.http, path, headers)
            job = await _finished_job(service.app.state.runtime.sessions, recording_id)
            download = await service.download(
                next(link["url"] for link in body["downloads"] if link["kind"] == "mp4")
            )
    assert body["status"] == "ready", body
    assert body["duration"] == pytest.approx(16.0, abs=0.3)
    assert (job.status, job.attempts) == (JobStatus.SUCCEEDED, 2)
    if not stack.distributed:
        output = tmp_path / "out.mp4"
        await asyncio.to_thread(output.write_bytes, download.content)
        info = await probe(output)
        assert info.video is not None
        assert info.duration == pytest.approx(16.0, abs=0.3)


async def _upload(http: httpx.AsyncClient, headers: dict[str, str], data: bytes) -> str:
    created = await http.post(
        "/v1/recordings", json={"title": "Long"}, headers={**headers, "Idempotency-Key": "long"}
    )
    assert created.status_code == 201, created.text
    recording_id = str(created.json()["id"])
    put = await http.put(
        f"/v1/recordings/{recording_id}/content",
        content=data,
        headers={**headers, "Content-Type": "video/webm"},
    )
    assert put.status_code == 202, put.text
    return recording_id


async def _finished_job(sessions: async_sessionmaker[AsyncSession], recording_id: str) -> JobRecord:
    """The recording's job once finished: the recording is ready inside the job, and the job's
    own row is finished just after."""
    async with sessions() as session:
        recording = await session.get(Recording, recording_id)
    assert recording is not None
    assert recording.job_id is not None
    return await wait_for_job(sessions, recording.job_id, within=30)


async def _settled(
    http: httpx.AsyncClient, path: str, headers: dict[str, str]
) -> dict[str, object]:
    deadline = asyncio.get_running_loop().time() + 120
    while asyncio.get_running_loop().time() < deadline:
        body = dict((await http.get(path, headers=headers)).json())
        if body["status"] in ("ready", "errored"):
            return body
        await asyncio.sleep(0.2)
    raise AssertionError("the recording did not settle after the worker was killed")
