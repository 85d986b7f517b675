"""Kill the process running an analysis (SIGKILL, once its scenes are stored and the picture
pass is under way) and start it again: the job is run again, the stored scenes are not
computed again (their row is the first run's), every stage ends with one result, and the
analysis is charged once. The app runs as ``v100 serve video_analysis`` (embedded: its jobs run
in it) beside a real video_processing and billing, on both backends."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from tests.services.video_processing.support import VideoApp
from tests.support.billed import Backend, balance, tenant_headers
from v100.kit.auth import InternalTokens
from v100.kit.db import create_engine, drop_database, utcnow
from v100.kit.testing.db import fresh_postgres_url, postgres_admin_url
from v100.kit.testing.jobs import job_attempts
from v100.kit.testing.processes import V100Process
from v100.kit.testing.servers import dead_url, serving
from v100.services.video_processing.app import create_app as create_video_processing
from v100.services.video_processing.settings import VideoProcessingSettings

from .support import INTERNAL_SECRET, SETTLED, Talk, new_tenant

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

TOKENS = InternalTokens(INTERNAL_SECRET)
STAGES = ["scenes", "keyframes", "faces", "speech", "signals", "speakers"]


@asynccontextmanager
async def _video_processing(backend: Backend, billing_url: str) -> AsyncIterator[VideoApp]:
    database_url = None
    if backend.name == "distributed":
        admin = postgres_admin_url()
        assert admin is not None
        database_url = fresh_postgres_url(admin)
    settings = VideoProcessingSettings(
        platform=backend.platform, billing_url=billing_url, database_url=database_url,
        public_base_url="http://service", hls_segment_seconds=1.0,
    )  # fmt: skip
    app = create_video_processing(settings)
    try:
        async with (
            serving(app, ready=True) as url,
            httpx.AsyncClient(base_url=url, trust_env=False, timeout=30) as http,
        ):
            yield VideoApp(app=app, http=http, settings=settings, billing=billing_url)
    finally:
        if database_url is not None:
            await drop_database(database_url)


@asynccontextmanager
async def _client(url: str, tenant: str) -> AsyncIterator[httpx.AsyncClient]:
    headers = tenant_headers(TOKENS, tenant)
    async with httpx.AsyncClient(
        base_url=url, headers=headers, trust_env=False, timeout=30
    ) as http:
        yield http


async def _analysis(http: httpx.AsyncClient, analysis_id: str) -> dict[str, Any]:
    answer = await http.get(f"/v1/analyses/{analysis_id}")
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def _results(database_url: str) -> list[tuple[str, Any]]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            query = text("SELECT stage, created_at FROM stage_results ORDER BY stage")
            return [(row.stage, row.created_at) for row in await connection.execute(query)]
    finally:
        await engine.dispose()


async def test_killed_mid_analysis_the_stages_stored_are_not_redone(
    backend: Backend, billing_url: str, talk: Talk, tmp_path: Path
) -> None:
    tenant = new_tenant()
    async with _video_processing(backend, billing_url) as vp:
        upload_id = await vp.tus_upload(tenant, talk.path)
        video = await vp.wait(tenant, (await vp.video_of_upload(tenant, upload_id))["id"])
        assert video["status"] == "ready", video
        available, _ = await balance(billing_url, TOKENS, tenant)
        env = os.environ | backend.environment(
            V100_VIDEO_ANALYSIS_BILLING_URL=billing_url,
            V100_VIDEO_ANALYSIS_VIDEO_PROCESSING_URL=str(vp.http.base_url).rstrip("/"),
            V100_VIDEO_ANALYSIS_TRANSCRIPTION_URL=dead_url(),
            V100_VIDEO_ANALYSIS_JOB_LEASE_SECONDS="4",
        )
        env.pop("V100_REDIS_URL", None)
        log = tmp_path / "app.log"
        first = V100Process("serve", "video_analysis", env=env, log=log)
        async with first, _client(first.url, tenant) as http:
            created = await http.post(
                "/v1/analyses",
                json={"video_id": video["id"], "stages": STAGES},
                headers={"Idempotency-Key": uuid.uuid4().hex},
            )
            assert created.status_code == 202, created.text
            analysis_id = created.json()["id"]
            for _ in range(3000):
                running = await _analysis(http, analysis_id)
                if running["progress"]["keyframes"]["status"] == "running":
                    break
                assert running["status"] not in SETTLED, (running, first.log_tail())
                await asyncio.sleep(0.05)
            assert running["progress"]["scenes"]["status"] == "completed", running
            await first.kill()
            killed_at = utcnow()
        async with (
            V100Process("serve", "video_analysis", env=env, log=log, port=first.port) as second,
            _client(second.url, tenant) as http,
        ):
            for _ in range(3000):
                done = await _analysis(http, analysis_id)
                if done["status"] in SETTLED:
                    break
                await asyncio.sleep(0.2)
            assert done["status"] == "completed", (done, second.log_tail())
            assert done["credits_charged"] == 1
            faces = (await http.get(f"/v1/analyses/{analysis_id}/faces")).json()
            assert len(faces["tracks"]) == 2
            assert faces["active_speaker"]
        assert await balance(billing_url, TOKENS, tenant) == (available - 1, 0)  # charged once
    database_url = backend.platform.database_url.replace("{service}", "video_analysis")
    assert await job_attempts(database_url, "video_analysis.analyse") == 2
    stored = await _results(database_url)
    assert sorted(stage for stage, _ in stored) == sorted(STAGES)
    # The scenes were stored by the first run, the keyframes only by the second (to the second:
    # SQLite answers text, PostgreSQL datetimes).
    at = {stage: str(when).replace(" ", "T")[:19] for stage, when in stored}
    assert at["scenes"] <= killed_at.isoformat()[:19] <= at["keyframes"]
