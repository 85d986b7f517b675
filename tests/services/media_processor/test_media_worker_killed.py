"""Kill the process running a transcode (SIGKILL, FFmpeg with it) and start it again: the media
job is run again from the start and succeeds with a complete output, charged once. The app runs
as ``v100 serve media_processor`` (embedded: its jobs run in it), with a real billing app."""

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
from mp_support import INTERNAL_SECRET, new_tenant

from v100 import media
from v100.contracts.billing import BillingClient
from v100.kit.auth import InternalTokens, Principal
from v100.kit.http import ServiceClient
from v100.kit.settings import PlatformSettings
from v100.kit.testing.servers import serving
from v100.media.testing import make_video
from v100.services.billing.app import create_app as create_billing
from v100.services.billing.settings import BillingSettings

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
    headers = {"Authorization": f"Bearer {tokens.mint(Principal(tenant_id=tenant, user_id='u'))}"}
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", headers=headers, trust_env=False, timeout=30
    ) as http:
        for _ in range(400):
            try:
                if (await http.get("/ready")).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
        else:
            raise TimeoutError("the app did not become ready")
        yield http


async def _available(billing: str, tenant: str) -> int:
    client = ServiceClient(billing, InternalTokens(INTERNAL_SECRET))
    try:
        balance = await BillingClient(client).balance(Principal(tenant_id=tenant, user_id="u"))
    finally:
        await client.aclose()
    assert balance.held == 0
    return balance.available


async def test_killed_mid_transcode_the_job_is_retried_and_succeeds(tmp_path: Path) -> None:
    platform = PlatformSettings(
        var_dir=tmp_path,
        internal_token_secret=INTERNAL_SECRET,
        database_url=f"sqlite+aiosqlite:///{tmp_path}/{{service}}.db",
        storage_url=f"file://{tmp_path}/objects",
    )
    source = make_video(tmp_path / "long.mp4", seconds=12, width=1280, height=720, fps=25)
    tenant = new_tenant()
    async with serving(create_billing(BillingSettings(platform=platform))) as billing:
        available = await _available(billing, tenant)
        env = {
            **os.environ,
            "V100_VAR_DIR": str(tmp_path),
            "V100_INTERNAL_TOKEN_SECRET": INTERNAL_SECRET,
            "V100_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/{{service}}.db",
            "V100_STORAGE_URL": f"file://{tmp_path}/objects",
            "V100_MEDIA_PROCESSOR_BILLING_URL": billing,
            "V100_MEDIA_PROCESSOR_JOB_LEASE_SECONDS": "4",
            "V100_LOG_LEVEL": "WARNING",
        }
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
                output = await http.get(job["download"]["url"])
                (tmp_path / "out.mp4").write_bytes(output.content)
                info = await media.probe(tmp_path / "out.mp4")
                assert info.duration == pytest.approx(12.0, abs=0.3)
                assert info.video is not None
                assert (info.video.width, info.video.height) == (1280, 720)  # never upscaled
        assert await _available(billing, tenant) == available - 1  # charged once
    engine = sa.create_engine(f"sqlite:///{tmp_path}/media_processor.db")
    with engine.connect() as connection:
        attempts = connection.execute(
            sa.text("SELECT attempts FROM kit_jobs WHERE task = 'media_processor.run_media_job'")
        ).scalar_one()
    engine.dispose()
    assert attempts == 2, attempts
    print(f"\nkilled at {killed_at}% of the job; the second run finished it")
