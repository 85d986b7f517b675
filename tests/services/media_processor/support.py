"""Helpers for media_processor's tests: a running app, tenant headers, inputs, jobs and
assemblies over HTTP, waiting for a job to settle, fetching what a presigned URL points at,
and reading the durable events and the tenant's live progress."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from fastapi import FastAPI

from tests.support.billed import balance, tenant_principal
from tests.support.billed import new_tenant as new_tenant
from v100.contracts.events import MEDIA_STREAM
from v100.kit.bus import Event
from v100.kit.testing.bus import published
from v100.kit.testing.http import auth_headers
from v100.services.media_processor.settings import MediaProcessorSettings

INTERNAL_SECRET = "internal-secret-for-media-tests-0123456789"
SETTLED = ("succeeded", "failed")


@dataclass
class MediaApp:
    app: FastAPI
    http: httpx.AsyncClient
    settings: MediaProcessorSettings
    billing: str

    def headers(self, tenant_id: str, **extra: str) -> dict[str, str]:
        return {
            **auth_headers(self.app, tenant_principal(tenant_id)),
            **extra,
        }

    async def put_input(
        self, tenant_id: str, name: str, data: bytes, content_type: str = "video/mp4"
    ) -> httpx.Response:
        return await self.http.put(
            f"/v1/media/inputs/{name}",
            content=data,
            headers=self.headers(tenant_id, **{"Content-Type": content_type}),
        )

    async def post_job(
        self, tenant_id: str, body: dict[str, Any], key: str | None = None
    ) -> httpx.Response:
        return await self.http.post(
            "/v1/media/jobs",
            json=body,
            headers=self.headers(tenant_id, **{"Idempotency-Key": key or uuid.uuid4().hex}),
        )

    async def run(
        self, tenant_id: str, body: dict[str, Any], within: float = 120.0
    ) -> dict[str, Any]:
        """Create a job and wait until it settles."""
        created = await self.post_job(tenant_id, body)
        assert created.status_code == 202, created.text
        return await self.wait(tenant_id, created.json()["id"], within)

    async def wait(self, tenant_id: str, job_id: str, within: float = 120.0) -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + within
        while True:
            answer = await self.http.get(
                f"/v1/media/jobs/{job_id}", headers=self.headers(tenant_id)
            )
            assert answer.status_code == 200, answer.text
            job = dict(answer.json())
            if job["status"] in SETTLED:
                return job
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"job still {job['status']} at {job['percent']}%")
            await asyncio.sleep(0.1)

    async def fetch(self, url: str) -> bytes:
        """GET a presigned URL: the local store's through the app, S3's over loopback."""
        if url.startswith("/"):
            answer = await self.http.get(url)
        else:
            async with httpx.AsyncClient(trust_env=False) as outside:
                answer = await outside.get(url)
        assert answer.status_code == 200, (urlsplit(url).path, answer.status_code)
        return answer.content

    async def events(self, job_id: str) -> list[Event]:
        """Durable events published so far about one job."""
        bus = self.app.state.runtime.bus
        return await published(bus, MEDIA_STREAM, lambda event: event.data.get("id") == job_id)

    async def balance(self, tenant_id: str) -> tuple[int, int]:
        return await balance(self.billing, self.app.state.runtime.tokens, tenant_id)
