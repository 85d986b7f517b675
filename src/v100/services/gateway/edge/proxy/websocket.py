"""Relays one WebSocket session between a caller and a service: the upstream handshake carries the
internal token and the caller's subprotocols, the caller is accepted with the subprotocol the
service chose, text and binary frames pass both ways, and each side's close code reaches the
other."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from starlette.types import Receive, Scope, Send
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.frames import CloseCode
from websockets.typing import Subprotocol
from yarl import URL

from v100.kit.errors import ProblemError, UpstreamUnavailable
from v100.kit.http import problem_response
from v100.kit.observability import get_logger
from v100.services.gateway.edge.proxy.upstreams import UpstreamFailed, UpstreamTimeout

__all__ = ["relay_websocket"]

_log = get_logger("v100.proxy")
# Codes an endpoint may put in a close frame (RFC 6455 7.4; 1005, 1006 and 1015 only describe
# what happened and are never sent).
_SENDABLE = frozenset({1000, 1001, 1002, 1003, *range(1007, 1015)})


def _sendable(code: int | None, fallback: int) -> int:
    if code is None:
        return fallback
    if code == 1005:  # the peer closed without a code: a normal close
        return 1000
    return code if code in _SENDABLE or 3000 <= code <= 4999 else fallback


async def _deny(scope: Scope, receive: Receive, send: Send, error: ProblemError) -> None:
    """Refuses the handshake with a problem+json answer where the server allows it (the ASGI
    denial-response extension), else with a bare close (a 403 to the caller)."""
    if "websocket.http.response" in (scope.get("extensions") or {}):
        await problem_response(error, scope["path"])(scope, receive, send)
    else:
        await send({"type": "websocket.close", "code": CloseCode.TRY_AGAIN_LATER})


async def _open(
    url: URL,
    headers: Sequence[tuple[str, str]],
    subprotocols: Sequence[str],
    open_timeout: float,
    max_size: int,
) -> ClientConnection:
    # The handshake headers are the library's own; the caller's User-Agent replaces its default.
    user_agent: str | None = None
    extra: list[tuple[str, str]] = []
    for name, value in headers:
        lower = name.lower()
        if lower == "user-agent":
            user_agent = value
        elif not lower.startswith("sec-websocket-"):
            extra.append((name, value))
    return await connect(
        str(url),
        additional_headers=extra,
        subprotocols=[Subprotocol(p) for p in subprotocols] or None,
        user_agent_header=user_agent,
        open_timeout=open_timeout,
        max_size=max_size,
        compression=None,  # loopback or a private network: CPU matters more than bytes
        proxy=None,  # never an HTTP proxy from the environment
        close_timeout=5,
    )


async def relay_websocket(
    scope: Scope,
    receive: Receive,
    send: Send,
    *,
    url: URL,
    headers: Sequence[tuple[str, str]],
    open_timeout: float,
    max_size: int,
) -> None:
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    service = url.host or "upstream"
    try:
        upstream = await _open(
            url, headers, scope.get("subprotocols") or (), open_timeout, max_size
        )
    except InvalidStatus as exc:
        # The service refused (no such room, not allowed...): the caller learns the status.
        error = UpstreamFailed(f"The service refused the WebSocket ({exc.response.status_code}).")
        error.status = exc.response.status_code
        await _deny(scope, receive, send, error)
        return
    except TimeoutError:
        _log.warning("websocket upstream timed out", url=str(url))
        await _deny(scope, receive, send, UpstreamTimeout(f"{service} did not answer in time."))
        return
    except Exception as exc:
        _log.warning("websocket upstream unreachable", url=str(url), error=repr(exc))
        unreachable = UpstreamUnavailable(f"{service} is not reachable.", retry_after=1)
        await _deny(scope, receive, send, unreachable)
        return

    await send({"type": "websocket.accept", "subprotocol": upstream.subprotocol})
    client_left = False

    async def client_to_upstream() -> None:
        nonlocal client_left
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                client_left = True
                code = _sendable(message.get("code"), CloseCode.GOING_AWAY)
                await upstream.close(code, message.get("reason") or "")
                return
            data = message.get("text")
            if data is None:
                data = message.get("bytes") or b""
            try:
                await upstream.send(data)
            except ConnectionClosed:
                # The service is closing; the other direction tells the caller, and the
                # caller's disconnect then ends this loop.
                continue

    async def upstream_to_client() -> None:
        nonlocal client_left
        while True:
            try:
                data = await upstream.recv()
            except ConnectionClosed as exc:
                if not client_left:
                    received = exc.rcvd
                    code = _sendable(received.code if received else None, CloseCode.BAD_GATEWAY)
                    reason = received.reason if received else ""
                    await send({"type": "websocket.close", "code": code, "reason": reason})
                return
            frame = {"type": "websocket.send", "text" if isinstance(data, str) else "bytes": data}
            try:
                await send(frame)
            except OSError:  # the caller vanished without a close frame
                client_left = True
                await upstream.close(CloseCode.GOING_AWAY)
                return

    try:
        async with asyncio.TaskGroup() as group:
            group.create_task(client_to_upstream())
            group.create_task(upstream_to_client())
    finally:
        await upstream.close()
