"""Helpers for integration's tests: a real webhook receiver on 127.0.0.1 whose answers a test
scripts (status, delay, redirect), a deployment of the service (in-process ASGI client, its
clock and dispatcher), and waits that poll instead of sleeping blindly."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from v100.kit.auth import Principal
from v100.kit.bus import Event
from v100.kit.testing.http import auth_headers
from v100.kit.testing.servers import serving
from v100.services.integration.clock import Clock
from v100.services.integration.dispatcher import Dispatcher
from v100.services.integration.intake import Intake
from v100.services.integration.settings import IntegrationSettings

INTERNAL_SECRET = "internal-secret-for-integration-tests-0123456789"
T = TypeVar("T")


def new_tenant() -> str:
    return str(uuid.uuid4())


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


# An answer: a status, or (status, seconds to wait before answering), or a callable deciding.
Answer = int | tuple[int, float]


@dataclass
class Receiver:
    """Records every request; answers ``script[path]`` in turn (its last entry repeats), 200
    when nothing is scripted for the path."""

    url: str = ""
    received: list[Received] = field(default_factory=list)
    script: dict[str, list[Answer]] = field(default_factory=dict)
    # Per path: decides the answer from the request (before the script is read).
    deciders: dict[str, Callable[[Received], Answer | None]] = field(default_factory=dict)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def endpoint(self, path: str = "/hook") -> str:
        return f"{self.url}{path}"

    def on(self, path: str, *answers: Answer) -> None:
        self.script[path] = list(answers)

    def at(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        path = request.url.path
        self.received.append(
            Received(path, {k.lower(): v for k, v in request.headers.items()}, body,
                     asyncio.get_running_loop().time())
        )  # fmt: skip
        self.arrived.set()
        decider = self.deciders.get(path)
        answer = None if decider is None else decider(self.received[-1])
        if answer is None:
            answers = self.script.get(path) or [200]
            answer = answers.pop(0) if len(answers) > 1 else answers[0]
        status, delay = answer if isinstance(answer, tuple) else (answer, 0.0)
        if delay:
            await asyncio.sleep(delay)
        headers = {"location": f"{self.url}/elsewhere"} if 300 <= status < 400 else None
        return Response(f"answer {status} for {path}", status_code=status, headers=headers)


@asynccontextmanager
async def receiving() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    app = Starlette(routes=[Route("/{path:path}", receiver.handle, methods=["POST", "GET"])])
    async with serving(app, lifespan="off") as url:
        receiver.url = url
        yield receiver


@dataclass
class Deployment:
    app: FastAPI
    http: httpx.AsyncClient
    settings: IntegrationSettings
    stack: str
    tenant: str = field(default_factory=new_tenant)

    @property
    def clock(self) -> Clock:
        return self.app.state.runtime.get(Clock)  # type: ignore[no-any-return]

    @property
    def dispatcher(self) -> Dispatcher:
        return self.app.state.runtime.get(Dispatcher)  # type: ignore[no-any-return]

    def headers(self, tenant: str | None = None, *, scopes: frozenset[str] = frozenset({"*"}),
                **extra: str) -> dict[str, str]:  # fmt: skip
        principal = Principal(tenant_id=tenant or self.tenant, user_id="u1", scopes=scopes)
        return {**auth_headers(self.app, principal), **extra}

    def creating(self, tenant: str | None = None) -> dict[str, str]:
        return self.headers(tenant, **{"Idempotency-Key": uuid.uuid4().hex})

    async def add_endpoint(
        self, url: str, tenant: str | None = None, **body: Any
    ) -> dict[str, Any]:
        answer = await self.http.post(
            "/v1/webhooks/endpoints", json={"url": url, **body}, headers=self.creating(tenant)
        )
        assert answer.status_code == 201, answer.text
        return dict(answer.json())

    async def publish(self, stream: str, event_type: str, data: dict[str, Any],
                      tenant: str | None = None, **fields: Any) -> Event:  # fmt: skip
        event = Event(type=event_type, source="test", tenant_id=tenant or self.tenant,
                      data=data, **fields)  # fmt: skip
        await self.app.state.runtime.bus.publish(stream, event)
        return event

    async def publish_recorded(self, stream: str, event_type: str, data: dict[str, Any],
                               **fields: Any) -> Event:  # fmt: skip
        """Publish, then wait until the intake recorded the event."""
        intake = self.app.state.runtime.get(Intake)
        before = intake.recorded
        event = await self.publish(stream, event_type, data, **fields)
        await eventually(lambda: holds(intake.recorded > before))
        return event

    async def get(self, path: str, tenant: str | None = None, **params: Any) -> Any:
        answer = await self.http.get(path, headers=self.headers(tenant), params=params)
        assert answer.status_code == 200, answer.text
        return answer.json()

    async def post(self, path: str, body: Any = None, *, status: int = 202,
                   tenant: str | None = None) -> Any:  # fmt: skip
        answer = await self.http.post(path, json=body, headers=self.creating(tenant))
        assert answer.status_code == status, answer.text
        return answer.json()


async def holds(value: bool) -> bool:
    """``value`` as an awaitable, for ``eventually(lambda: holds(x == y))``."""
    return value


async def eventually(
    check: Callable[[], Awaitable[T | None]], *, within: float = 10.0, every: float = 0.02
) -> T:
    """``check()``'s first truthy answer, polling until ``within`` seconds have passed."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        value = await check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not within {within} s (last answer: {value!r})")
        await asyncio.sleep(every)


async def settled_as(service: object, message_id: str, want: str) -> list[str]:
    """The endpoints of a message's deliveries once every one has the status ``want``."""
    message = await service.get(f"/v1/webhooks/messages/{message_id}")  # type: ignore[attr-defined]
    deliveries = message["deliveries"]
    if deliveries and all(d["status"] == want for d in deliveries):
        return [d["endpoint_id"] for d in deliveries]
    return []
