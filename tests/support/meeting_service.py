"""The real meeting service on loopback for the room services' tests (meeting_signaling,
realtime): they ask it where a meeting token's participant stands (ADR 0061). Embedded (SQLite)
with the bus the room service uses (in-process, or the same Redis), so its live events reach
them. ``Meetings`` makes meetings and participants as a tenant and moves them as a host."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import websockets

from v100.kit.auth import InternalTokens, Principal
from v100.kit.settings import PlatformSettings
from v100.kit.testing.servers import serving
from v100.services.meeting.app import create_app
from v100.services.meeting.settings import MeetingSettings


@dataclass
class Participant:
    id: str
    token: str


@dataclass
class Meetings:
    url: str
    http: httpx.AsyncClient
    internal: InternalTokens
    tenant: str = field(default_factory=lambda: str(uuid.uuid4()))

    def _tenant_headers(self) -> dict[str, str]:
        principal = Principal(tenant_id=self.tenant, user_id="u1", scopes=frozenset({"*"}))
        return {
            "Authorization": f"Bearer {self.internal.mint(principal)}",
            "Idempotency-Key": uuid.uuid4().hex,
        }

    async def create(self, **body: Any) -> str:
        """A live meeting's id (instant unless ``starts_at``)."""
        made = await self.http.post(
            "/v1/meetings", json={"title": "Standup", **body}, headers=self._tenant_headers()
        )
        assert made.status_code == 201, made.text
        return str(made.json()["id"])

    async def invited(self, meeting_id: str, name: str = "Ada", **body: Any) -> Participant:
        made = await self.http.post(
            f"/v1/meetings/{meeting_id}/tokens",
            json={"name": name, **body},
            headers=self._tenant_headers(),
        )
        assert made.status_code == 201, made.text
        return Participant(made.json()["participant_id"], made.json()["token"])

    async def room(
        self, meeting_id: str, who: Participant, action: str, json: Any = None
    ) -> dict[str, Any]:
        answer = await self.http.post(
            f"/v1/meetings/{meeting_id}/room/{action}",
            json=json,
            headers={"Authorization": f"Bearer {who.token}"},
        )
        assert answer.status_code in (200, 201, 202), answer.text  # 202: knocked
        body = answer.json()
        return dict(body) if isinstance(body, dict) else {"items": body}

    async def joined(self, meeting_id: str, name: str = "Ada", **body: Any) -> Participant:
        """A participant that joined (or knocked, when the waiting room is on)."""
        who = await self.invited(meeting_id, name, **body)
        await self.room(meeting_id, who, "join")
        return who


@contextlib.asynccontextmanager
async def meeting_service(
    var_dir: Path, secret: str, platform: dict[str, Any]
) -> AsyncIterator[Meetings]:
    """The meeting service on loopback, on ``platform``'s bus (``redis_url`` or in-process)."""
    settings = MeetingSettings(
        platform=PlatformSettings(var_dir=var_dir, internal_token_secret=secret, **platform),
        database_url=f"sqlite+aiosqlite:///{var_dir}/meeting.db",
    )
    internal = InternalTokens(secret, 300)
    async with (
        serving(create_app(settings), ready=True) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as http,
    ):
        yield Meetings(url, http, internal)


async def refused_join(url: str, token: str) -> tuple[int, str]:
    """The close code and reason a room socket's join with ``token`` gets (a join answer
    instead fails)."""
    async with websockets.connect(url, proxy=None, open_timeout=10) as socket:
        await socket.send(json.dumps({"type": "join", "token": token}))
        with contextlib.suppress(websockets.ConnectionClosed):
            async for raw in socket:
                assert json.loads(raw)["type"] != "joined", raw
    received = socket.protocol.close_rcvd
    assert received is not None
    return received.code, received.reason
