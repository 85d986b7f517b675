"""Helpers for transcription's tests: a running app (and another with settings changed),
tenant headers, creating transcripts over HTTP (a URL, or the file itself), waiting for one to
settle, the durable events published about one, and the tenant's balance at the real billing
app; for live sessions, audio sent into a WebSocket at a pace and what it said until it
closed."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np
import websockets
from fastapi import FastAPI
from websockets.exceptions import ConnectionClosed

from tests.support.billed import balance, tenant_principal
from tests.support.billed import new_tenant as new_tenant
from v100.ai.audio import SAMPLE_RATE
from v100.contracts.events import TRANSCRIPTS_STREAM
from v100.kit.bus import Event
from v100.kit.testing.bus import published
from v100.kit.testing.http import auth_headers, running_app
from v100.services.transcription.app import create_app
from v100.services.transcription.settings import TranscriptionSettings

INTERNAL_SECRET = "internal-secret-for-transcription-tests-0123456789"
SETTLED = ("completed", "failed")


@dataclass
class TranscriptionApp:
    app: FastAPI
    http: httpx.AsyncClient
    settings: TranscriptionSettings
    billing: str

    @asynccontextmanager
    async def changed(self, **settings: Any) -> AsyncIterator[TranscriptionApp]:
        """Another app on the same backend and billing, with these settings changed."""
        changed = self.settings.model_copy(update=settings)
        app = create_app(changed)
        async with running_app(app) as http:
            yield TranscriptionApp(app=app, http=http, settings=changed, billing=self.billing)

    def headers(self, tenant_id: str, **extra: str) -> dict[str, str]:
        return {**auth_headers(self.app, tenant_principal(tenant_id)), **extra}

    async def upload(
        self,
        tenant_id: str,
        data: bytes,
        *,
        content_type: str = "audio/wav",
        key: str | None = None,
        **params: str,
    ) -> httpx.Response:
        return await self.http.post(
            "/v1/transcripts/files",
            content=data,
            params=params,
            headers=self.headers(
                tenant_id,
                **{"Content-Type": content_type, "Idempotency-Key": key or uuid.uuid4().hex},
            ),
        )

    async def from_url(
        self, tenant_id: str, body: dict[str, Any], key: str | None = None
    ) -> httpx.Response:
        return await self.http.post(
            "/v1/transcripts",
            json=body,
            headers=self.headers(tenant_id, **{"Idempotency-Key": key or uuid.uuid4().hex}),
        )

    async def wait(
        self, tenant_id: str, transcript_id: str, within: float = 180.0
    ) -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + within
        while True:
            answer = await self.http.get(
                f"/v1/transcripts/{transcript_id}", headers=self.headers(tenant_id)
            )
            assert answer.status_code == 200, answer.text
            transcript = dict(answer.json())
            if transcript["status"] in SETTLED:
                return transcript
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"transcript still {transcript['status']}")
            await asyncio.sleep(0.1)

    async def transcribe(self, tenant_id: str, data: bytes, **params: str) -> dict[str, Any]:
        created = await self.upload(tenant_id, data, **params)
        assert created.status_code == 202, created.text
        return await self.wait(tenant_id, created.json()["id"])

    async def events(self, transcript_id: str) -> list[Event]:
        """Durable events published so far about one transcript."""
        bus = self.app.state.runtime.bus
        return await published(
            bus, TRANSCRIPTS_STREAM, lambda event: event.data.get("id") == transcript_id
        )

    async def balance(self, tenant_id: str) -> tuple[int, int]:
        return await balance(self.billing, self.app.state.runtime.tokens, tenant_id)


# --- live sessions -------------------------------------------------------------------------

CHUNK = SAMPLE_RATE // 10  # samples: 100 ms


def linear16(pcm: np.ndarray) -> bytes:
    return (np.clip(pcm, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


@dataclass
class Conversation:
    """What a WebSocket said until the server closed it."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    code: int | None = None
    reason: str = ""

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["type"] == kind]

    @property
    def finals(self) -> list[dict[str, Any]]:
        return [m for m in self.of("Results") if m["is_final"]]

    @staticmethod
    def text(result: dict[str, Any]) -> str:
        return str(result["channel"]["alternatives"][0]["transcript"])

    @staticmethod
    def words(result: dict[str, Any]) -> list[dict[str, Any]]:
        return list(result["channel"]["alternatives"][0]["words"])


async def listen(socket: websockets.ClientConnection, into: Conversation) -> None:
    """Every message until the server closes the socket."""
    try:
        async for raw in socket:
            into.messages.append(json.loads(raw))
    except ConnectionClosed:
        pass
    into.code, into.reason = socket.close_code, socket.close_reason or ""


async def send_audio(
    socket: websockets.ClientConnection, data: bytes, *, pace: float | None = 1.0,
    step: int = 2 * CHUNK,
) -> None:  # fmt: skip
    """``data`` in ``step``-byte frames, at ``pace`` times real time for 16 kHz linear16."""
    for offset in range(0, len(data), step):
        await socket.send(data[offset : offset + step])
        await asyncio.sleep(step / (2 * SAMPLE_RATE) / pace if pace else 0)
