"""The HTTP/1.1 protocol every server of the platform runs (uvicorn's httptools protocol with the
limits it lacks): a request head must arrive whole within ``head_timeout`` seconds of its first
byte, or of the connection opening (408, closed: slow-header and silent connections), and is at
most ``MAX_HEAD_BYTES`` and ``MAX_HEADER_COUNT`` fields, counted as the bytes arrive rather than
after the parser has buffered them (431, closed). Past ``max_connections`` open connections, a
connection is served only for ``/health`` and ``/ready`` (503 with ``Retry-After`` for the
rest), and past ``health_headroom`` more it is refused at once, so probes still get through when
the server is full. The idle keep-alive timeout is uvicorn's (``keep_alive``)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import httptools
import orjson

from v100.kit.errors import (
    PROBLEM_CONTENT_TYPE,
    BackendUnavailable,
    HeadersTooLarge,
    ProblemError,
    RequestTimeout,
)
from v100.kit.http._rules import MAX_HEADER_BYTES, MAX_HEADER_COUNT, MAX_HEADERS_TOTAL
from v100.kit.http._uvicorn import UvicornProtocol

__all__ = ["MAX_HEAD_BYTES", "GuardedHttpProtocol", "HttpLimits"]

# The request line (a long URL) and every header field, as they come over the wire.
MAX_HEAD_BYTES = MAX_HEADERS_TOTAL + MAX_HEADER_BYTES
_PROBES = frozenset({b"/health", b"/ready"})
# After a refusal the connection reads and drops what the client is still sending for this long
# before closing (nginx's lingering close): closing with unread bytes makes the kernel send a
# reset, and the client would lose the answer it has not read yet.
_LINGER_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """A server's connection limits (``PlatformSettings.http_*``)."""

    head_timeout: float = 10.0
    keep_alive: float = 5.0
    max_connections: int = 4096
    health_headroom: int = 16


class _Refusal(Exception):
    def __init__(self, problem: ProblemError) -> None:
        super().__init__(problem.detail)
        self.problem = problem


class GuardedHttpProtocol(UvicornProtocol):
    """Used by ``kit.http.server_config`` for every app (the gateway's hit path subclasses it);
    the limits come from ``app.state.http_limits``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        state = getattr(self.config.app, "state", None)
        self.limits: HttpLimits = getattr(state, "http_limits", None) or HttpLimits()
        self._head_timer: asyncio.TimerHandle | None = None
        self._in_head = True  # the next bytes belong to a request head
        self._head_bytes = 0
        self._header_count = 0
        self._probes_only = False
        self._refused = False

    # -- connection --------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        open_now = self.open_connections
        if open_now > self.limits.max_connections + self.limits.health_headroom:
            self._refuse(
                BackendUnavailable("The server is at its connection limit.", retry_after=1)
            )
            return
        self._probes_only = open_now > self.limits.max_connections
        self._arm_head_timer()  # a connection that never sends a byte is closed too

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)

    @property
    def serving_all(self) -> bool:
        """Requests may be answered as usual: not refused, nor over the connection limit."""
        return not self._refused and not self._probes_only

    # -- bytes -------------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # lingering: dropped
        if self._in_head:
            end = data.find(b"\r\n\r\n")
            self._head_bytes += len(data) if end < 0 else end
            if self._head_bytes > MAX_HEAD_BYTES:
                self._refuse(HeadersTooLarge(f"A request head is at most {MAX_HEAD_BYTES} bytes."))
                return
            self._arm_head_timer()
        self.feed(data, self._callback_failed)

    def _callback_failed(self, exc: httptools.HttpParserCallbackError) -> None:
        if isinstance(exc.__context__, _Refusal):
            self._refuse(exc.__context__.problem)
        else:
            self.answer_invalid()

    # -- parser callbacks --------------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > MAX_HEADER_COUNT:
            raise _Refusal(HeadersTooLarge(f"At most {MAX_HEADER_COUNT} header fields."))
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._disarm_head_timer()
        if self._probes_only and self.request_path not in _PROBES:
            raise _Refusal(
                BackendUnavailable("The server is at its connection limit.", retry_after=1)
            )
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head, self._head_bytes, self._header_count = True, 0, 0

    # -- the head timer ----------------------------------------------------------------------

    def _arm_head_timer(self) -> None:
        if self._head_timer is None and not self.transport.is_closing():
            self._head_timer = self.loop.call_later(self.limits.head_timeout, self._head_late)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_late(self) -> None:
        self._head_timer = None
        if self._in_head and not self.transport.is_closing():
            self._refuse(RequestTimeout(f"No request head within {self.limits.head_timeout:g} s."))

    # -- answering without the app -----------------------------------------------------------

    def _refuse(self, problem: ProblemError) -> None:
        """Answer ``problem`` as problem+json (unless an answer is going out) and close."""
        self._disarm_head_timer()
        if self._refused or self.transport.is_closing():
            return
        self._refused = True
        if self.answering:
            self.transport.close()
            return
        body = orjson.dumps(problem.to_problem())
        lines = [
            f"HTTP/1.1 {problem.status} {HTTPStatus(problem.status).phrase}",
            f"content-type: {PROBLEM_CONTENT_TYPE}",
            f"content-length: {len(body)}",
            "connection: close",
            *(f"{name}: {value}" for name, value in problem.headers.items()
              if name.lower() != "connection"),
        ]  # fmt: skip
        self.transport.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        if self.transport.can_write_eof():
            self.transport.write_eof()
            self.loop.call_later(_LINGER_SECONDS, self.transport.close)
        else:
            self.transport.close()
