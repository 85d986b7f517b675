"""Helpers for recording_processor's tests: a deployment of the service on one backend stack
(embedded: SQLite, local disk, in-process bus and jobs; distributed: PostgreSQL, S3, Redis and
a worker), called through ASGI or served by uvicorn on loopback, with calls for its HTTP API
and its WebSocket."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import orjson
import websockets
from fastapi import FastAPI

from v100.contracts.events import RECORDINGS_STREAM
from v100.kit.auth import Principal
from v100.kit.bus import Event
from v100.kit.testing.bus import published
from v100.kit.testing.http import auth_headers
from v100.services.recording_processor.settings import RecordingProcessorSettings

INTERNAL_SECRET = "internal-secret-for-recording-tests-0123456789"


def new_tenant() -> str:
    return str(uuid.uuid4())


@dataclass
class Deployment:
    app: FastAPI
    url: str
    http: httpx.AsyncClient
    settings: RecordingProcessorSettings
    stack: str
    tenant: str = field(default_factory=new_tenant)

    def headers(self, tenant: str | None = None, **extra: str) -> dict[str, str]:
        principal = Principal(
            tenant_id=tenant or self.tenant, user_id="u1", scopes=frozenset({"*"})
        )
        return {**auth_headers(self.app, principal), **extra}

    async def create(self, title: str = "Weekly sync", **body: Any) -> dict[str, Any]:
        response = await self.http.post(
            "/v1/recordings",
            json={"title": title, **body},
            headers=self.headers(**{"Idempotency-Key": uuid.uuid4().hex}),
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def put_content(
        self,
        recording_id: str,
        body: bytes | AsyncIterator[bytes],
        *,
        tenant: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        return await self.http.put(
            f"/v1/recordings/{recording_id}/content",
            content=body,
            headers={**self.headers(tenant), "Content-Type": "video/webm", **(headers or {})},
        )

    async def get(self, recording_id: str, tenant: str | None = None) -> httpx.Response:
        return await self.http.get(f"/v1/recordings/{recording_id}", headers=self.headers(tenant))

    async def wait_settled(self, recording_id: str, within: float = 90.0) -> dict[str, Any]:
        """The recording once ready or errored."""
        deadline = asyncio.get_running_loop().time() + within
        while True:
            response = await self.get(recording_id)
            assert response.status_code == 200, response.text
            body = dict(response.json())
            if body["status"] in ("ready", "errored"):
                return body
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"not settled in {within} s: {body}")
            await asyncio.sleep(0.1)

    async def download(self, url: str) -> httpx.Response:
        """GET a presigned link as a browser would: no API key, no internal token (this
        service's own links through its client, which sends none of itself; S3's over
        loopback)."""
        target = urljoin(self.url, url)
        if urlsplit(target).netloc == urlsplit(self.url).netloc:
            return await self.http.get(target)
        async with httpx.AsyncClient(trust_env=False, timeout=30) as client:
            return await client.get(target)

    @asynccontextmanager
    async def progress(
        self, recording_id: str, tenant: str | None = None
    ) -> AsyncIterator[websockets.ClientConnection]:
        assert self.url.startswith("http://127.0.0.1"), "WebSockets need deploy(socket=True)"
        ws_url = self.url.replace("http://", "ws://") + f"/v1/recordings/{recording_id}/progress"
        async with websockets.connect(
            ws_url, additional_headers=self.headers(tenant), open_timeout=10
        ) as connection:
            yield connection

    async def events(self, recording_id: str) -> list[Event]:
        """Durable events published so far about one recording."""
        bus = self.app.state.runtime.bus
        return await published(
            bus, RECORDINGS_STREAM, lambda event: event.data.get("recording_id") == recording_id
        )


async def messages_until_closed(
    connection: websockets.ClientConnection, within: float = 90.0
) -> list[dict[str, Any]]:
    """Every message the progress WebSocket sends, until the server closes it."""
    received: list[dict[str, Any]] = []
    async with asyncio.timeout(within):
        async for raw in connection:
            received.append(orjson.loads(raw))
    return received


async def chunked(
    data: bytes, size: int, sent: Callable[[int], None] | None = None
) -> AsyncIterator[bytes]:
    """``data`` as a body of unknown length (chunked transfer encoding)."""
    for start in range(0, len(data), size):
        if sent is not None:
            sent(start)
        yield data[start : start + size]


async def put_until_answered(
    base_url: str, path: str, headers: dict[str, str], chunk: bytes, chunks: int
) -> tuple[int, int]:
    """PUT ``chunks`` copies of ``chunk`` with chunked encoding over a raw connection, stopping
    as soon as the server answers (httpx would write the whole body first); the status and the
    bytes written by then."""
    host, _, port = base_url.removeprefix("http://").partition(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    head = [f"PUT {path} HTTP/1.1", f"Host: {host}", "Transfer-Encoding: chunked"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode())
    answer = asyncio.create_task(reader.readline())
    sent = 0
    try:
        for _ in range(chunks):
            if answer.done():
                break
            writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            try:
                await writer.drain()
            except ConnectionError:
                break
            sent += len(chunk)
            await asyncio.sleep(0.005)
        else:
            writer.write(b"0\r\n\r\n")
        status_line = await asyncio.wait_for(answer, 30)
    finally:
        writer.close()
    return int(status_line.split()[1]), sent
