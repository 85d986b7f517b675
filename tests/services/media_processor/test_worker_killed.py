"""Kill the process running a transcode (SIGKILL, FFmpeg with it) and start it again: the media
job is run again from the start and succeeds with a complete output, charged once. The app runs
as ``v100 serve media_processor`` (embedded: its jobs run in it), with a real billing app, on
both backends (SQLite + local disk, PostgreSQL + S3)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from tests.support.billed import Backend, balance, billing_serving, new_tenant, tenant_headers
from v100 import media
from v100.kit.auth import InternalTokens
from v100.kit.testing.jobs import job_attempts
from v100.kit.testing.processes import V100Process
from v100.media.testing import make_video

from .support import INTERNAL_SECRET

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

TOKENS = InternalTokens(INTERNAL_SECRET)


@asynccontextmanager
async def _client(url: str, tenant: str) -> AsyncIterator[httpx.AsyncClient]:
    headers = tenant_headers(TOKENS, tenant)
    async with httpx.AsyncClient(
        base_url=url, headers=headers, trust_env=False, timeout=30
    ) as http:
        yield http


async def _available(billing: str, tenant: str) -> int:
    available, held = await balance(billing, TOKENS, tenant)
    assert held == 0
    return available


async def test_killed_mid_transcode_the_job_is_retried_and_succeeds(
    backend: Backend, tmp_path: Path
) -> None:
    """On SQLite + local disk and on PostgreSQL + S3 (the conftest's backends)."""
    platform = backend.platform
    source = make_video(tmp_path / "long.mp4", seconds=12, width=1280, height=720, fps=25)
    tenant = new_tenant()
    async with billing_serving(backend) as billing:
        available = await _available(billing, tenant)
        env = os.environ | backend.environment(
            V100_MEDIA_PROCESSOR_BILLING_URL=billing, V100_MEDIA_PROCESSOR_JOB_LEASE_SECONDS="4"
        )
        env.pop("V100_REDIS_URL", None)
        log = tmp_path / "app.log"
        first = V100Process("serve", "media_processor", env=env, log=log)
        async with first, _client(first.url, tenant) as http:
            stored = await http.put("/v1/media/inputs/long.mp4", content=source.read_bytes())
            assert stored.status_code == 200, stored.text
            created = await http.post(
                "/v1/media/jobs",
                json={"input": "long.mp4", "operation": "transcode", "platform": "youtube"},
                headers={"Idempotency-Key": "kill-test"},
            )
            assert created.status_code == 202, created.text
            job_id = created.json()["id"]
            for _ in range(600):
                job = (await http.get(f"/v1/media/jobs/{job_id}")).json()
                if job["percent"] >= 20 or job["status"] not in ("queued", "running"):
                    break
                await asyncio.sleep(0.1)
            assert job["status"] == "running", job
            killed_at = job["percent"]
            await first.kill()
        async with (
            V100Process("serve", "media_processor", env=env, log=log, port=first.port) as second,
            _client(second.url, tenant) as http,
        ):
            for _ in range(1800):
                job = (await http.get(f"/v1/media/jobs/{job_id}")).json()
                if job["status"] in ("succeeded", "failed"):
                    break
                await asyncio.sleep(0.2)
            assert job["status"] == "succeeded", (job, second.log_tail())
            assert job["credits_charged"] == 1
            url = job["download"]["url"]
            if url.startswith("/"):  # the local store's link, served by this app
                output = await http.get(url)
            else:  # presigned S3
                async with httpx.AsyncClient(trust_env=False) as outside:
                    output = await outside.get(url)
            assert output.status_code == 200, output.status_code
            (tmp_path / "out.mp4").write_bytes(output.content)
            info = await media.probe(tmp_path / "out.mp4")
            assert info.duration == pytest.approx(12.0, abs=0.3)
            assert info.video is not None
            assert (info.video.width, info.video.height) == (1280, 720)  # never upscaled
        assert await _available(billing, tenant) == available - 1  # charged once
    database_url = platform.database_url.replace("{service}", "media_processor")
    attempts = await job_attempts(database_url, "media_processor.run_media_job")
    assert attempts == 2, attempts
    print(f"\nkilled at {killed_at}% of the job; the second run finished it")
