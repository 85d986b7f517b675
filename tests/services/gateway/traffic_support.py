"""What the traffic-control tests share: a small real upstream (plain ASGI on uvicorn, loopback)
that answers by a script the test writes (statuses in turn, a hang, an answer that breaks off,
server-sent events released one by one by the test) and counts what reached it; and helpers to
read the gateway's Prometheus text and Server-Timing header."""

from __future__ import annotations

import asyncio
import re
import zlib
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.types import Receive, Scope, Send

from v100.kit.testing.servers import serving

# A JSON document comfortably above the compression threshold.
DOCUMENT = orjson.dumps(
    [{"id": n, "name": f"item {n}", "tags": ["red", "green"], "score": n * 3} for n in range(200)]
)


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class ScriptedUpstream:
    """Answers ``/v1/credits/<anything>``. ``plan(path, 503, 200)`` makes the next calls of
    ``path`` answer those statuses in turn (then 200); special steps: ``"hang"`` (never answers
    in time), ``"break"`` (200 whose body stops halfway), ``"retry-after"`` (503 with
    Retry-After). Fixed paths: ``/health`` (``health_status``), ``.../json``, ``.../small``,
    ``.../png``, ``.../encoded``, ``.../sse`` (one event per ``release()``)."""

    health_status: int = 200
    delay: float = 0.0
    calls: Counter[str] = field(default_factory=Counter)
    seen: list[Seen] = field(default_factory=list)
    plans: dict[str, list[int | str]] = field(default_factory=dict)
    health_checks: int = 0
    sse_gate: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)

    def plan(self, path: str, *steps: int | str) -> None:
        self.plans.setdefault(path, []).extend(steps)

    def release(self, event: str | None) -> None:
        """Lets the SSE endpoint send one more event (None ends the stream)."""
        self.sse_gate.put_nowait(event)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        if path == "/health":
            self.health_checks += 1
            await _answer(send, self.health_status, b'{"status": "ok"}')
            return
        self.calls[path] += 1
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        self.seen.append(Seen(scope["method"], path, headers, body))
        if self.delay:
            await asyncio.sleep(self.delay)
        steps = self.plans.get(path)
        step: int | str = steps.pop(0) if steps else 200
        if step == "hang":
            await asyncio.sleep(30)
            return
        if step == "break":
            await send(_start(200, [(b"content-length", b"1000")]))
            await send({"type": "http.response.body", "body": b"x" * 100, "more_body": True})
            return  # uvicorn drops the connection: the answer never completes
        if step == "retry-after":
            await _answer(send, 503, b'{"busy": true}', [(b"retry-after", b"30")])
            return
        assert isinstance(step, int)
        if path.endswith("/json"):
            await _answer(send, step, DOCUMENT, [(b"etag", b'"v1"')])
        elif path.endswith("/small"):
            await _answer(send, step, b'{"small": true}')
        elif path.endswith("/png"):
            await _answer(send, step, bytes(range(256)) * 40, content_type=b"image/png")
        elif path.endswith("/encoded"):
            gzipped = zlib.compress(DOCUMENT, wbits=31)
            await _answer(send, step, gzipped, [(b"content-encoding", b"gzip")])
        elif path.endswith("/sse"):
            await self._events(send)
        else:
            echo = {"method": scope["method"], "path": path, "body": body.decode()}
            await _answer(send, step, orjson.dumps(echo))

    async def _events(self, send: Send) -> None:
        await send(_start(200, [], content_type=b"text/event-stream"))
        while (event := await self.sse_gate.get()) is not None:
            chunk = f"data: {event}\n\n".encode()
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})


def _start(
    status: int,
    headers: Iterable[tuple[bytes, bytes]],
    content_type: bytes = b"application/json",
) -> dict[str, Any]:
    return {
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", content_type), *headers],
    }


async def _answer(
    send: Send,
    status: int,
    body: bytes,
    headers: Iterable[tuple[bytes, bytes]] = (),
    content_type: bytes = b"application/json",
) -> None:
    extra = [(b"content-length", str(len(body)).encode()), *headers]
    await send(_start(status, extra, content_type))
    await send({"type": "http.response.body", "body": body})


@asynccontextmanager
async def scripted_upstream(**kwargs: Any) -> AsyncIterator[tuple[str, ScriptedUpstream]]:
    upstream = ScriptedUpstream(**kwargs)
    async with serving(upstream, lifespan="off") as url:
        yield url, upstream


def metric(text: str, name: str, **labels: str) -> float | None:
    """One sample of the Prometheus text format, by name and (a subset of) its labels."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.partition(" ")[0]))
        if all(found.get(key) == value for key, value in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


_TIMING = re.compile(
    r"^(?P<name>[!#$%&'*+\-.^_`|~0-9A-Za-z]+)"
    r"(?P<params>(?:\s*;\s*[!#$%&'*+\-.^_`|~0-9A-Za-z]+=[^,;\s]+)*)$"
)


def server_timing(header: str) -> dict[str, float]:
    """Server-Timing (W3C; RFC 8941-like grammar) as {metric: dur in ms}; fails on bad syntax."""
    metrics: dict[str, float] = {}
    for part in header.split(","):
        match = _TIMING.match(part.strip())
        assert match is not None, f"not a Server-Timing metric: {part!r}"
        params = dict(p.strip().split("=", 1) for p in match["params"].split(";") if p.strip())
        metrics[match["name"]] = float(params["dur"])
    return metrics


async def eventually(check: Any, within: float = 5.0) -> None:
    """Waits until ``check()`` (sync or async) is true."""
    async with asyncio.timeout(within):
        while True:
            result = check()
            if asyncio.iscoroutine(result):
                result = await result
            if result:
                return
            await asyncio.sleep(0.05)
