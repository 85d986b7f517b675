"""Kill the process running a transcode (SIGKILL, FFmpeg with it) and start it again: the job is
run again, skips what the first run finished, and the video becomes ready with every rendition
complete and playable, charged once. The app runs as ``v100 serve video_processing`` (embedded:
its jobs run in it), with a real billing app beside it, on both backends (SQLite + local disk,
PostgreSQL + S3)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import av
import httpx
import pytest

from tests.support.billed import Backend, billing_serving, new_tenant, tenant_headers
from v100.kit.auth import InternalTokens
from v100.kit.testing.jobs import job_attempts
from v100.kit.testing.net import free_port
from v100.kit.testing.processes import V100Process
from v100.media.testing import make_video

from .support import INTERNAL_SECRET, download_hls

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


@asynccontextmanager
async def _client(url: str, tenant: str) -> AsyncIterator[httpx.AsyncClient]:
    headers = tenant_headers(InternalTokens(INTERNAL_SECRET), tenant)
    async with httpx.AsyncClient(
        base_url=url, headers=headers, trust_env=False, timeout=30
    ) as http:
        yield http


async def test_killed_mid_transcode_the_job_is_retried_and_completes(
    backend: Backend, tmp_path: Path
) -> None:
    """On SQLite + local disk and on PostgreSQL + S3 (the conftest's backends)."""
    platform = backend.platform
    seconds = 6
    source = make_video(tmp_path / "long.mp4", seconds=seconds, width=1280, height=720, fps=25)
    tenant = new_tenant()
    async with billing_serving(backend) as billing:
        env = os.environ | backend.environment(
            V100_VIDEO_PROCESSING_BILLING_URL=billing, V100_VIDEO_PROCESSING_JOB_LEASE_SECONDS="4"
        )
        env.pop("V100_REDIS_URL", None)
        port = free_port()
        # Callers reach the service directly here: its URLs name its own address.
        env["V100_PUBLIC_URL"] = f"http://127.0.0.1:{port}"
        first = V100Process(
            "serve", "video_processing", env=env, log=tmp_path / "app.log", port=port
        )
        async with first, _client(first.url, tenant) as http:
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
            await first.kill()
        second = V100Process("serve", "video_processing", env=env, log=first.log, port=port)
        async with second, _client(second.url, tenant) as http:
            for _ in range(1800):
                video = (await http.get(f"/v1/videos/{video_id}")).json()
                if video["status"] in ("ready", "errored"):
                    break
                await asyncio.sleep(0.2)
            assert video["status"] == "ready", (video, second.log_tail())
            names = {r["name"] for r in video["renditions"]}
            assert {"master", "720p", "360p", "mp4", "m4a", "poster", "storyboard"} <= names
            assert video["credits_charged"] == 1
            local = await download_hls(http, video["playback"]["hls"], tmp_path / "hls")
            with av.open(str(local), options={"protocol_whitelist": "file"}) as container:
                frames = sum(1 for _ in container.decode(video=0))
            assert frames >= seconds * 25 - 5, frames
            # A link to this app, or (S3) to a presigned object: followed as a player does.
            async with httpx.AsyncClient(trust_env=False, follow_redirects=True) as outside:
                mp4 = await outside.get(video["playback"]["mp4"])
            assert mp4.status_code == 200, mp4.status_code
            (tmp_path / "out.mp4").write_bytes(mp4.content)
            with av.open(str(tmp_path / "out.mp4")) as container:
                assert container.duration / 1e6 == pytest.approx(seconds, abs=0.3)
    database_url = platform.database_url.replace("{service}", "video_processing")
    attempts = await job_attempts(database_url, "video_processing.process_video")
    assert attempts == 2, attempts
    print(f"\nkilled at {killed_at}% of processing; the second run finished it")
