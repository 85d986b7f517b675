"""Kill the process running a transcode (SIGKILL, FFmpeg with it) and start it again: the media
job is run again from the start and succeeds with a complete output, charged once. The app runs
as ``v100 serve media_processor`` (embedded: its jobs run in it), with a real billing app, on
both backends (SQLite + local disk, PostgreSQL + S3)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from v100 import media
from v100.contracts.billing import BillingClient
from v100.kit.auth import InternalTokens, Principal
from v100.kit.http import ServiceClient
from v100.kit.testing.servers import serving, wait_ready
from v100.media.testing import make_video
from v100.services.billing.app import create_app as create_billing
from v100.services.billing.settings import BillingSettings

from .conftest import Backend
from .support import INTERNAL_SECRET, new_tenant

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

V100 = str(Path(sys.executable).with_name("v100"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _app_process(env: dict[str, str], port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        process = subprocess.Popen(
            [V100, "serve", "media_processor", "--port", str(port)],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@asynccontextmanager
async def _client(port: int, tenant: str) -> AsyncIterator[httpx.AsyncClient]:
    tokens = InternalTokens(INTERNAL_SECRET)
    user = Principal(tenant_id=tenant, user_id="u", scopes=frozenset({"*"}))
    headers = {"Authorization": f"Bearer {tokens.mint(user)}"}
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", headers=headers, trust_env=False, timeout=30
    ) as http:
        await wait_ready(str(http.base_url), within=40)
        yield http


async def _available(billing: str, tenant: str) -> int:
    client = ServiceClient(billing, InternalTokens(INTERNAL_SECRET))
    try:
        balance = await BillingClient(client).balance(
            Principal(tenant_id=tenant, user_id="u", scopes=frozenset({"*"}))
        )
    finally:
        await client.aclose()
    assert balance.held == 0
    return balance.available


async def test_killed_mid_transcode_the_job_is_retried_and_succeeds(
    backend: Backend, tmp_path: Path
) -> None:
    """On SQLite + local disk and on PostgreSQL + S3 (the conftest's backends)."""
    platform = backend.platform
    source = make_video(tmp_path / "long.mp4", seconds=12, width=1280, height=720, fps=25)
    tenant = new_tenant()
    billing_settings = BillingSettings(platform=platform, database_url=backend.billing_database_url)
    async with serving(create_billing(billing_settings), ready=True) as billing:
        available = await _available(billing, tenant)
        env = {
            **os.environ,
            "V100_VAR_DIR": str(tmp_path),
            "V100_INTERNAL_TOKEN_SECRET": INTERNAL_SECRET,
            "V100_DATABASE_URL": platform.database_url,
            "V100_STORAGE_URL": platform.storage_url,
            "V100_MEDIA_PROCESSOR_BILLING_URL": billing,
            "V100_MEDIA_PROCESSOR_JOB_LEASE_SECONDS": "4",
            "V100_LOG_LEVEL": "WARNING",
        }
        if platform.s3_endpoint_url:
            assert platform.s3_access_key_id
            assert platform.s3_secret_access_key
            env["V100_S3_ENDPOINT_URL"] = platform.s3_endpoint_url
            env["V100_S3_ACCESS_KEY_ID"] = platform.s3_access_key_id
            env["V100_S3_SECRET_ACCESS_KEY"] = platform.s3_secret_access_key.get_secret_value()
        env.pop("V100_REDIS_URL", None)
        port = _free_port()
        log = tmp_path / "app.log"
        with _app_process(env, port, log) as first:
            async with _client(port, tenant) as http:
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
                os.killpg(first.pid, signal.SIGKILL)
                first.wait()
        with _app_process(env, port, log):
            async with _client(port, tenant) as http:
                for _ in range(1800):
                    job = (await http.get(f"/v1/media/jobs/{job_id}")).json()
                    if job["status"] in ("succeeded", "failed"):
                        break
                    await asyncio.sleep(0.2)
                assert job["status"] == "succeeded", (job, log.read_text()[-3000:])
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
    engine = create_async_engine(platform.database_url.replace("{service}", "media_processor"))
    try:
        async with engine.connect() as connection:
            attempts = (
                await connection.execute(
                    sa.text(
                        "SELECT attempts FROM kit_jobs WHERE task = 'media_processor.run_media_job'"
                    )
                )
            ).scalar_one()
    finally:
        await engine.dispose()
    assert attempts == 2, attempts
    print(f"\nkilled at {killed_at}% of the job; the second run finished it")
