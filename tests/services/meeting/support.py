"""Helpers for meeting's tests: a deployment of the service with calls as the tenant (its
internal token) and as a participant (a meeting token), and the events it published."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI

from v100.contracts.events import MEETINGS_STREAM
from v100.kit.auth import Principal
from v100.kit.bus import Event
from v100.kit.testing.bus import published
from v100.kit.testing.http import auth_headers
from v100.services.meeting.settings import MeetingSettings

INTERNAL_SECRET = "internal-secret-for-meeting-tests-0123456789"


def new_tenant() -> str:
    return str(uuid.uuid4())


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Deployment:
    app: FastAPI
    http: httpx.AsyncClient
    settings: MeetingSettings
    tenant: str = field(default_factory=new_tenant)

    def headers(self, tenant: str | None = None, **extra: str) -> dict[str, str]:
        principal = Principal(
            tenant_id=tenant or self.tenant, user_id="u1", scopes=frozenset({"*"})
        )
        return {**auth_headers(self.app, principal), **extra}

    async def create(self, **body: Any) -> dict[str, Any]:
        response = await self.http.post(
            "/v1/meetings",
            json={"title": "Weekly sync", **body},
            headers=self.headers(**{"Idempotency-Key": uuid.uuid4().hex}),
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def token(self, meeting_id: str, name: str = "Ada", **body: Any) -> dict[str, Any]:
        response = await self.http.post(
            f"/v1/meetings/{meeting_id}/tokens",
            json={"name": name, **body},
            headers=self.headers(**{"Idempotency-Key": uuid.uuid4().hex}),
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def room(
        self, meeting_id: str, token: str, action: str = "", json: Any = None, method: str = "POST"
    ) -> httpx.Response:
        path = f"/v1/meetings/{meeting_id}/room" + (f"/{action}" if action else "")
        return await self.http.request(method, path, json=json, headers=bearer(token))

    async def joined(self, meeting_id: str, name: str = "Ada", **body: Any) -> dict[str, Any]:
        """A participant's token, once it joined."""
        made = await self.token(meeting_id, name, **body)
        answer = await self.room(meeting_id, made["token"], "join")
        assert answer.status_code == 200, answer.text
        return made


async def events_on_stream(
    deployment: Deployment, meeting_id: str, at_least: int, within: float = 5.0
) -> list[Event]:
    """The meeting's events on the durable stream once ``at_least`` are there (they are
    published after commit, which may come a moment after the answer)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        found = await published(
            deployment.app.state.runtime.bus,
            MEETINGS_STREAM,
            lambda event: event.data.get("meeting_id") == meeting_id,
        )
        if len(found) >= at_least or asyncio.get_running_loop().time() > deadline:
            return found
        await asyncio.sleep(0.05)
