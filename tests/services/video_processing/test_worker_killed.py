"""Kill the process running a transcode (SIGKILL, FFmpeg with it) and start it again: the job is
run again, skips what the first run finished, and the video becomes ready with every rendition
complete and playable, charged once. The app runs as ``v100 serve video_processing`` (embedded:
its jobs run in it), with a real billing app beside it, on both backends (SQLite + local disk,
PostgreSQL + S3)."""

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

import av
import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from v100.kit.auth import InternalTokens, Principal
from v100.kit.testing.servers import serving, wait_ready
from v100.media.testing import make_video
from v100.services.billing.app import create_app as create_billing
from v100.services.billing.settings import BillingSettings

from .conftest import Backend
from .support import INTERNAL_SECRET, download_hls, new_tenant

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
            [V100, "serve", "video_processing", "--port", str(port)],
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


async def test_killed_mid_transcode_the_job_is_retried_and_completes(
    backend: Backend, tmp_path: Path
) -> None:
    """On SQLite + local disk and on PostgreSQL + S3 (the conftest's backends)."""
    platform = backend.platform
    source = make_video(tmp_path / "long.mp4", seconds=12, width=1280, height=720, fps=25)
    tenant = new_tenant()
    billing_settings = BillingSettings(platform=platform, database_url=backend.billing_database_url)
    async with serving(create_billing(billing_settings), ready=True) as billing:
        env = {
            **os.environ,
            "V100_VAR_DIR": str(tmp_path),
            "V100_INTERNAL_TOKEN_SECRET": INTERNAL_SECRET,
            "V100_DATABASE_URL": platform.database_url,
            "V100_STORAGE_URL": platform.storage_url,
            "V100_VIDEO_PROCESSING_BILLING_URL": billing,
            "V100_VIDEO_PROCESSING_JOB_LEASE_SECONDS": "4",
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
        # Callers reach the service directly here: its URLs name its own address.
        env["V100_PUBLIC_URL"] = f"http://127.0.0.1:{port}"
        log = tmp_path / "app.log"
        with _app_process(env, port, log) as first:
            async with _client(port, tenant) as http:
                data = source.read_bytes()
                tus = {"Tus-Resumable": "1.0.0"}
                created = await http.post(
                    "/v1/uploads", headers={**tus, "Upload-Length": str(len(data))}
                )
                location = created.headers["Location"].split(f":{port}", 1)[1]
                patched = await http.patch(
                    location, content=data,
                    headers={**tus, "Upload-Offset": "0",
                             "Content-Type": "application/offset+octet-stream"},
                )  # fmt: skip
                assert patched.status_code == 204, patched.text
                upload_id = location.rsplit("/", 1)[1]
                found = await http.get("/v1/videos", params={"upload_id": upload_id})
                video_id = found.json()["items"][0]["id"]
                # Wait until the ladder is being encoded, then kill the process and FFmpeg.
                for _ in range(600):
                    video = (await http.get(f"/v1/videos/{video_id}")).json()
                    if video["progress"] >= 20 or video["status"] != "processing":
                        break
                    await asyncio.sleep(0.1)
                assert video["status"] == "processing", video
                killed_at = video["progress"]
                os.killpg(first.pid, signal.SIGKILL)
                first.wait()
        with _app_process(env, port, log):
            async with _client(port, tenant) as http:
                for _ in range(1800):
                    video = (await http.get(f"/v1/videos/{video_id}")).json()
                    if video["status"] in ("ready", "errored"):
                        break
                    await asyncio.sleep(0.2)
                assert video["status"] == "ready", (video, log.read_text()[-3000:])
                names = {r["name"] for r in video["renditions"]}
                assert {"master", "720p", "360p", "mp4", "m4a", "poster", "storyboard"} <= names
                assert video["credits_charged"] == 1
                local = await download_hls(http, video["playback"]["hls"], tmp_path / "hls")
                with av.open(str(local), options={"protocol_whitelist": "file"}) as container:
                    frames = sum(1 for _ in container.decode(video=0))
                assert frames >= 12 * 25 - 5, frames
                # A link to this app, or (S3) to a presigned object: followed as a player does.
                async with httpx.AsyncClient(trust_env=False, follow_redirects=True) as outside:
                    mp4 = await outside.get(video["playback"]["mp4"])
                assert mp4.status_code == 200, mp4.status_code
                (tmp_path / "out.mp4").write_bytes(mp4.content)
                with av.open(str(tmp_path / "out.mp4")) as container:
                    assert container.duration / 1e6 == pytest.approx(12.0, abs=0.3)
    engine = create_async_engine(platform.database_url.replace("{service}", "video_processing"))
    try:
        async with engine.connect() as connection:
            attempts = (
                await connection.execute(
                    sa.text(
                        "SELECT attempts FROM kit_jobs "
                        "WHERE task = 'video_processing.process_video'"
                    )
                )
            ).scalar_one()
    finally:
        await engine.dispose()
    assert attempts == 2, attempts
    print(f"\nkilled at {killed_at}% of processing; the second run finished it")
