"""The proxy's HTTP/1.1 client to the services behind the gateway: keep-alive connections per
upstream on asyncio protocols, answers parsed by httptools (uvicorn's parser), bodies streamed
both ways with flow control, connect and read timeouts. It speaks only what the proxy needs and
costs about a quarter of aiohttp's CPU per request (41 vs 158 us for a small GET on the bench
machine; ADR 0012), which was the largest share of the gateway's own time.

    UpstreamError
     ├── UpstreamConnectError   nothing was sent: the request may be sent again
     ├── UpstreamReadTimeout    no answer (or no next bytes) within the read timeout
     └── UpstreamBroken         the connection ended or carried an invalid answer
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import deque
from collections.abc import AsyncIterator
from functools import partial
from typing import cast
from urllib.parse import urlsplit

import httptools

__all__ = [
    "Exchange",
    "UpstreamBroken",
    "UpstreamConnectError",
    "UpstreamError",
    "UpstreamPool",
    "UpstreamReadTimeout",
]

_HIGH_WATER = 256 * 1024  # answer bytes buffered before the upstream socket stops being read
# What ends an answer's body before the end of the connection.
_FRAMING = (b"content-length", b"transfer-encoding")


class UpstreamError(Exception):
    pass


class UpstreamConnectError(UpstreamError):
    pass


class UpstreamReadTimeout(UpstreamError, TimeoutError):
    pass


class UpstreamBroken(UpstreamError):
    pass


class _Connection(asyncio.Protocol):
    """One keep-alive connection; carries one exchange at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.idle_since = 0.0
        self.used = False  # has carried an exchange before: may be a stale keep-alive
        self._reset(False)
        self._drain: asyncio.Future[None] | None = None

    def _reset(self, head_only: bool) -> None:
        self.head_only = head_only  # a HEAD: the answer has no body whatever its headers say
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.head: asyncio.Future[None] | None = None
        self.body: deque[bytes] = deque()
        self.buffered = 0
        self.paused = False
        self.eof = False
        self.until_close = False  # no length, not chunked: the body ends with the connection
        self.received = False  # any byte of the answer
        self.keep_alive = False
        self.error: BaseException | None = None
        self.waiter: asyncio.Future[None] | None = None

    # --- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio's: no isinstance check here.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.received = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(UpstreamBroken(f"invalid answer: {exc}"))
            self.abort()

    def eof_received(self) -> bool:
        self.closed = True  # never handed out again, even before connection_lost runs
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.head is not None and self.head.done() and self.until_close and not self.eof:
            self.eof = True  # an answer delimited by the end of the connection: complete
            self._wake()
            return
        if not self.eof:
            self._fail(
                UpstreamBroken(f"connection closed: {exc!r}" if exc else "connection closed")
            )
        drain, self._drain = self._drain, None
        if drain is not None and not drain.done():
            drain.set_exception(UpstreamBroken("connection closed while sending"))

    def pause_writing(self) -> None:
        if self._drain is None:
            self._drain = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        drain, self._drain = self._drain, None
        if drain is not None and not drain.done():
            drain.set_result(None)

    # --- httptools callbacks ------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if status < 200 and status != 101:
            self.headers = []  # an interim answer (103 Early Hints): wait for the final one
            return
        self.status = status
        self.keep_alive = self.parser.should_keep_alive()
        if self.head_only or status in (204, 304):
            self.eof = True
            self.keep_alive = self.keep_alive and not self.head_only
        else:
            until_close = True
            for name, _ in self.headers:
                if name.lower() in _FRAMING:
                    until_close = False
                    break
            self.until_close = until_close
        head = self.head
        if head is not None and not head.done():
            head.set_result(None)

    def on_body(self, body: bytes) -> None:
        if not body or self.eof:
            return
        self.body.append(body)
        self.buffered += len(body)
        if self.buffered > _HIGH_WATER and not self.paused and self.transport is not None:
            self.paused = True  # the caller reads slower than the upstream sends
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if self.status == 0:
            return  # the end of an interim answer
        self.eof = True
        self._wake()

    # --- helpers ------------------------------------------------------------------------

    def _wake(self) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _fail(self, error: BaseException) -> None:
        if self.error is None:
            self.error = error
        head = self.head
        if head is not None and not head.done():
            head.set_exception(error)
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    async def drain(self) -> None:
        if self._drain is not None:
            await self._drain
        if self.closed:
            raise UpstreamBroken("connection closed while sending")


def _expire(future: asyncio.Future[None], seconds: float, what: str) -> None:
    if not future.done():
        future.set_exception(UpstreamReadTimeout(f"no {what} within {seconds:g} s"))


def _timed(future: asyncio.Future[None], seconds: float, what: str) -> asyncio.TimerHandle:
    return asyncio.get_running_loop().call_later(seconds, _expire, future, seconds, what)


class Exchange:
    """An answer being received: status and headers now, the body by ``read``."""

    __slots__ = ("_body_task", "_conn", "_pool", "headers", "status")

    def __init__(
        self, pool: UpstreamPool, conn: _Connection, body_task: asyncio.Task[None] | None
    ) -> None:
        self._pool = pool
        self._conn = conn
        self._body_task = body_task
        self.status = conn.status
        self.headers = conn.headers

    def header(self, name: bytes) -> bytes | None:
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None

    def at_eof(self) -> bool:
        conn = self._conn
        return conn.eof and not conn.body

    async def read(self) -> bytes:
        """The next bytes of the body as they come; ``b""`` at its end."""
        conn = self._conn
        while not conn.body:
            if conn.eof:
                return b""
            if conn.error is not None:
                raise conn.error
            waiter = conn.waiter = asyncio.get_running_loop().create_future()
            timer = _timed(waiter, self._pool.read_timeout, "answer bytes")
            try:
                await waiter
            finally:
                timer.cancel()
        chunk = conn.body.popleft()
        conn.buffered -= len(chunk)
        if conn.paused and conn.buffered <= _HIGH_WATER and conn.transport is not None:
            conn.paused = False
            conn.transport.resume_reading()
        return chunk

    def release(self) -> None:
        """Done with it: the connection goes back to the pool if the exchange ended cleanly,
        else it is dropped."""
        conn = self._conn
        task = self._body_task
        clean = conn.eof and not conn.body and conn.keep_alive and conn.error is None
        if task is not None and not task.done():
            task.cancel()
            clean = False
        if clean:
            self._pool.put(conn)
        else:
            conn.abort()

    def close(self) -> None:
        """Drop the connection now (wakes a pending ``read`` with an error)."""
        conn = self._conn
        conn._fail(UpstreamBroken("closed by the gateway"))
        conn.abort()
        if self._body_task is not None and not self._body_task.done():
            self._body_task.cancel()


class UpstreamPool:
    """One upstream's connections. Its size is bounded by the proxy's in-flight cap (one
    connection per exchange); idle ones are kept ``keepalive_seconds``, below the upstream's
    own keep-alive so we never reuse one it is closing."""

    def __init__(
        self,
        base_url: str,
        *,
        connect_timeout: float,
        read_timeout: float,
        keepalive_seconds: float,
    ) -> None:
        parts = urlsplit(base_url)
        self.secure = parts.scheme == "https"
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if self.secure else 80)
        self.base_path = parts.path.rstrip("/").encode()
        self.host_header = (parts.netloc or self.host).encode()
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.keepalive = keepalive_seconds
        self._ssl = ssl.create_default_context() if self.secure else None
        self._idle: list[_Connection] = []

    def put(self, conn: _Connection) -> None:
        now = conn.idle_since = time.monotonic()
        idle = self._idle
        # The oldest are at the front: drop those the upstream closed or that idled too long.
        while idle and (idle[0].closed or now - idle[0].idle_since >= self.keepalive):
            idle.pop(0).abort()
        idle.append(conn)

    def _idle_connection(self) -> _Connection | None:
        idle = self._idle
        now = time.monotonic()
        while idle:
            conn = idle.pop()  # the most recent: the least likely to be closing
            if not conn.closed and now - conn.idle_since < self.keepalive:
                return conn
            conn.abort()
        return None

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.connect_timeout):
                _, protocol = await loop.create_connection(
                    _Connection,
                    self.host,
                    self.port,
                    ssl=self._ssl,
                    server_hostname=self.host if self.secure else None,
                )
        except TimeoutError as exc:
            raise UpstreamConnectError(f"no connection within {self.connect_timeout:g} s") from exc
        except OSError as exc:
            raise UpstreamConnectError(f"{type(exc).__name__}: {exc}") from exc
        return protocol

    async def request(
        self,
        method: str,
        target: bytes,
        header_block: bytes,
        body: bytes | AsyncIterator[bytes] | None = None,
        *,
        chunked: bool = False,
        replayable: bool = True,
    ) -> Exchange:
        """Sends the request (``header_block``: ``Name: value\\r\\n`` lines, no Host) and
        returns once the answer's status and headers arrived. A kept-alive connection that
        turns out closed before any answer is replaced once when ``replayable``."""
        head = b"%s %s%s HTTP/1.1\r\nHost: %s\r\n%s\r\n" % (
            method.encode(),
            self.base_path,
            target,
            self.host_header,
            header_block,
        )
        for attempt in (0, 1):
            conn = self._idle_connection() or await self._connect()
            reused = conn.used
            conn.used = True
            conn._reset(method == "HEAD")
            loop = asyncio.get_running_loop()
            conn.head = head_future = loop.create_future()
            transport = conn.transport
            assert transport is not None
            task: asyncio.Task[None] | None = None
            if body is None or isinstance(body, bytes):
                transport.write(head + body if body else head)
            else:
                transport.write(head)
                task = asyncio.create_task(_send_body(conn, body, chunked))
                task.add_done_callback(partial(_body_sent, conn))
            timer = _timed(head_future, self.read_timeout, "answer")
            try:
                await head_future
            except UpstreamBroken:
                if task is not None and not task.done():
                    task.cancel()
                conn.abort()
                if attempt == 0 and reused and not conn.received and replayable and task is None:
                    continue  # a stale keep-alive connection: nothing reached the service
                raise
            except BaseException:
                if task is not None and not task.done():
                    task.cancel()
                conn.abort()
                raise
            finally:
                timer.cancel()
            return Exchange(self, conn, task)
        raise AssertionError("unreachable")

    def close(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.abort()


async def _send_body(conn: _Connection, body: AsyncIterator[bytes], chunked: bool) -> None:
    transport = conn.transport
    assert transport is not None
    async for chunk in body:
        if conn.closed:
            raise UpstreamBroken("connection closed while sending")
        if not chunk:
            continue  # an empty chunk would end a chunked body
        transport.write(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
        await conn.drain()
    if chunked:
        transport.write(b"0\r\n\r\n")


def _body_sent(conn: _Connection, task: asyncio.Task[None]) -> None:
    """A body that could not be sent ends the exchange: the caller left, or the upstream."""
    if task.cancelled():
        return
    error = task.exception()
    if error is not None:
        conn._fail(error)
        conn.abort()
