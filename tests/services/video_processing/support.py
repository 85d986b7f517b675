"""Helpers for video_processing's tests: a running app (with a real billing app beside it),
tenant headers, a tus upload over HTTP, waiting for a video to settle, and reading an HLS
ladder back through the signed playback URLs."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from fastapi import FastAPI

from tests.support.billed import balance, tenant_principal
from tests.support.billed import new_tenant as new_tenant
from v100.kit.db import unit_of_work
from v100.kit.jobs import JobRecord, get_job
from v100.kit.testing.http import auth_headers
from v100.services.video_processing.models import Clip
from v100.services.video_processing.settings import VideoProcessingSettings

INTERNAL_SECRET = "internal-secret-for-video-tests-0123456789"
SETTLED = ("ready", "errored")


@dataclass
class VideoApp:
    app: FastAPI
    http: httpx.AsyncClient
    settings: VideoProcessingSettings
    billing: Any  # the billing fixture's running app (None when billing is off)

    def headers(self, tenant_id: str, **extra: str) -> dict[str, str]:
        return {
            **auth_headers(self.app, tenant_principal(tenant_id)),
            **extra,
        }

    async def tus_upload(
        self,
        tenant_id: str,
        source: bytes | Path,
        *,
        metadata: str = "",
        chunk: int = 4 * 1024 * 1024,
    ) -> str:
        """Upload ``source`` with the tus protocol (creation, then PATCHes); the upload id."""
        data = source if isinstance(source, bytes) else await asyncio.to_thread(source.read_bytes)
        headers = self.headers(tenant_id, **{"Tus-Resumable": "1.0.0"})
        created = await self.http.post(
            "/v1/uploads",
            headers={**headers, "Upload-Length": str(len(data)), "Upload-Metadata": metadata},
        )
        assert created.status_code == 201, created.text
        location = urlsplit(created.headers["Location"]).path
        offset = 0
        while offset < len(data):
            part = data[offset : offset + chunk]
            answer = await self.http.patch(
                location,
                content=part,
                headers={
                    **headers,
                    "Upload-Offset": str(offset),
                    "Content-Type": "application/offset+octet-stream",
                },
            )
            assert answer.status_code == 204, answer.text
            offset = int(answer.headers["Upload-Offset"])
        return location.rsplit("/", 1)[1]

    async def video_of_upload(self, tenant_id: str, upload_id: str) -> dict[str, Any]:
        answer = await self.http.get(
            "/v1/videos", params={"upload_id": upload_id}, headers=self.headers(tenant_id)
        )
        assert answer.status_code == 200, answer.text
        data = answer.json()["items"]
        assert len(data) == 1, data
        return dict(data[0])

    async def wait(self, tenant_id: str, video_id: str, within: float = 120.0) -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + within
        while True:
            answer = await self.http.get(f"/v1/videos/{video_id}", headers=self.headers(tenant_id))
            assert answer.status_code == 200, answer.text
            video = dict(answer.json())
            if video["status"] in SETTLED:
                return video
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"video still {video['status']} at {video['progress']}%")
            await asyncio.sleep(0.2)

    async def balance(self, tenant_id: str) -> tuple[int, int]:
        """The tenant's (available, held) credits, from the real billing app."""
        return await balance(self.billing, self.app.state.runtime.tokens, tenant_id)

    async def wait_clip(self, tenant_id: str, clip_id: str, within: float = 60.0) -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + within
        while True:
            answer = await self.http.get(f"/v1/clips/{clip_id}", headers=self.headers(tenant_id))
            assert answer.status_code == 200, answer.text
            clip = dict(answer.json())
            if clip["status"] in SETTLED:
                return clip
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"clip still {clip['status']}")
            await asyncio.sleep(0.2)


def local_path(url: str) -> str:
    """The path (and query) of a URL this app handed out, to fetch through the ASGI client."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


async def fetch(http: httpx.AsyncClient, url: str) -> httpx.Response:
    """GET a URL the app handed out: its own paths through the app, S3's over the network."""
    if url.startswith(("http://service/", "/")):
        return await http.get(local_path(url))
    async with httpx.AsyncClient(trust_env=False) as outside:
        return await outside.get(url)


async def download_hls(http: httpx.AsyncClient, master_url: str, into: Path) -> Path:
    """Fetch a master playlist and everything it names (relative URIs, resolved against the
    signed URL as a player does) into ``into``; the local master's path."""
    base = master_url.rsplit("/", 1)[0]
    pending = ["master.m3u8"]
    seen: set[str] = set()
    while pending:
        relative = pending.pop()
        if relative in seen:
            continue
        seen.add(relative)
        answer = await fetch(http, f"{base}/{relative}")
        assert answer.status_code == 200, (relative, answer.status_code, answer.text[:200])
        target = into / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(answer.content)
        if relative.endswith(".m3u8"):
            folder = relative.rsplit("/", 1)[0] + "/" if "/" in relative else ""
            for line in answer.text.splitlines():
                uris = []
                if line and not line.startswith("#"):
                    uris.append(line.strip())
                elif 'URI="' in line:
                    uris.append(line.split('URI="', 1)[1].split('"', 1)[0])
                for uri in uris:
                    assert "://" not in uri, uri  # relative: the token in the path carries
                    assert not uri.startswith("/"), uri
                    pending.append(_normalise(folder + uri))
    return into / "master.m3u8"


def _normalise(path: str) -> str:
    parts: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            parts.pop()
        elif segment not in ("", "."):
            parts.append(segment)
    return "/".join(parts)


# -- clips (test_clip_credits.py, test_video_credits.py) ----------------------------------------


async def ready_video(vp: VideoApp, tenant: str, path: Path) -> dict[str, Any]:
    upload_id = await vp.tus_upload(tenant, path)
    video = await vp.wait(tenant, (await vp.video_of_upload(tenant, upload_id))["id"])
    assert video["status"] == "ready", video["error"]
    return video


async def post_clip(vp: VideoApp, tenant: str, video_id: str, **body: object) -> dict[str, Any]:
    created = await vp.http.post(
        "/v1/clips",
        json={"video_id": video_id, "start": 0.5, "end": 2.0, **body},
        headers=vp.headers(tenant),
    )
    assert created.status_code == 202, created.text
    return dict(created.json())


async def clip_job(vp: VideoApp, clip_id: str) -> JobRecord | None:
    async with unit_of_work(vp.app.state.runtime.sessions) as session:
        clip = await session.get(Clip, clip_id)
        assert clip is not None
        assert clip.job_id is not None
        return await get_job(session, clip.job_id)
