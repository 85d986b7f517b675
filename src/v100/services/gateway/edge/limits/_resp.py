"""The limiter's Redis client: one connection per gateway process with the commands of concurrent
requests pipelined on it (Redis answers in order), RESP2 encoded and parsed here, because
redis-py costs 1.5-3 times as much per call one at a time and 7-11 times as much with many in
flight (``bench/limiter_accuracy.py``). It speaks only what the limiter needs: commands in;
integers, strings, arrays and errors out; AUTH, SELECT and TLS from the URL (``redis://``,
``rediss://``, ``unix://``). Errors are redis-py's exception types."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections import deque
from collections.abc import Sequence
from typing import Any, cast
from urllib.parse import parse_qs, unquote, urlsplit

from redis.exceptions import NoScriptError, ResponseError

__all__ = ["PipelinedRedis"]

Arg = str | bytes | int
_INCOMPLETE = object()


class _ErrorReply:
    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message

    def exception(self) -> ResponseError:
        if self.message.startswith("NOSCRIPT"):
            return NoScriptError(self.message)
        return ResponseError(self.message)


def encode(args: Sequence[Arg]) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = (
            arg if isinstance(arg, bytes) else arg.encode() if isinstance(arg, str) else b"%d" % arg
        )
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def parse(buf: bytearray, pos: int) -> Any:
    """One reply starting at ``pos``: ``(value, end)``, or ``_INCOMPLETE`` if not all here."""
    end = buf.find(b"\r\n", pos)
    if end < 0:
        return _INCOMPLETE
    kind = buf[pos]
    if kind == 0x3A:  # ':' integer
        return int(buf[pos + 1 : end]), end + 2
    if kind == 0x24:  # '$' bulk string
        size = int(buf[pos + 1 : end])
        if size < 0:
            return None, end + 2
        start, stop = end + 2, end + 2 + size
        if len(buf) < stop + 2:
            return _INCOMPLETE
        return bytes(buf[start:stop]), stop + 2
    if kind == 0x2A:  # '*' array
        count = int(buf[pos + 1 : end])
        if count < 0:
            return None, end + 2
        items: list[Any] = []
        pos = end + 2
        for _ in range(count):
            parsed = parse(buf, pos)
            if parsed is _INCOMPLETE:
                return _INCOMPLETE
            items.append(parsed[0])
            pos = parsed[1]
        return items, pos
    if kind == 0x2B:  # '+' simple string
        return bytes(buf[pos + 1 : end]), end + 2
    if kind == 0x2D:  # '-' error
        return _ErrorReply(buf[pos + 1 : end].decode(errors="replace")), end + 2
    raise ConnectionError(f"redis sent something that is not RESP2: {bytes(buf[pos:end])!r}")


class _Connection(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.last_data = 0.0
        self._waiters: deque[asyncio.Future[Any]] = deque()
        self._buffer = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio's: no isinstance check here.
        self.transport = cast("asyncio.Transport", transport)
        self.last_data = asyncio.get_running_loop().time()

    def data_received(self, data: bytes) -> None:
        self.last_data = asyncio.get_running_loop().time()
        buffer = self._buffer
        buffer += data
        pos = 0
        try:
            while self._waiters:
                parsed = parse(buffer, pos)
                if parsed is _INCOMPLETE:
                    break
                value, pos = parsed
                waiter = self._waiters.popleft()
                if not waiter.done():
                    waiter.set_result(value)
        except (ConnectionError, ValueError) as exc:
            self.abort(ConnectionError(f"unreadable answer from redis: {exc}"))
            return
        if pos:
            del buffer[:pos]

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(ConnectionError(f"the connection to redis was lost ({exc!r})"))

    def send(self, args: Sequence[Arg]) -> asyncio.Future[Any]:
        if self.closed or self.transport is None:
            raise ConnectionError("the connection to redis is closed")
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self.transport.write(encode(args))
        return waiter

    def abort(self, error: Exception) -> None:
        """Drop the connection and fail every pending call: once one answer is lost, the
        order that pairs answers with calls is lost too."""
        self._fail(error)
        if self.transport is not None:
            self.transport.abort()

    def _fail(self, error: Exception) -> None:
        self.closed = True
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(error)


class PipelinedRedis:
    """``timeout`` bounds connecting and each call: a connection silent that long while calls
    wait is dropped, failing them (a connection still answering earlier calls is not)."""

    def __init__(self, url: str, timeout: float) -> None:
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        self._timeout = timeout
        self._unix_path = parts.path if parts.scheme == "unix" else None
        if parts.scheme not in ("redis", "rediss", "unix"):
            raise ValueError(f"unsupported redis URL scheme {parts.scheme!r}")
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or 6379
        self._ssl = ssl.create_default_context() if parts.scheme == "rediss" else None
        self._username = unquote(parts.username) if parts.username else None
        self._password = unquote(parts.password) if parts.password else None
        db = query.get("db", [""])[0] or (parts.path.lstrip("/") if parts.scheme != "unix" else "")
        self._db = int(db or 0)
        self._conn: _Connection | None = None
        self._opening: asyncio.Task[_Connection] | None = None
        self._closed = False

    async def execute(self, *args: Arg) -> Any:
        conn = self._conn
        if conn is None or conn.closed:
            conn = await self._connection()
        loop = asyncio.get_running_loop()
        waiter = conn.send(args)
        timer = loop.call_later(self._timeout, self._expire, conn, waiter)
        try:
            value = await waiter
        finally:
            timer.cancel()
        if isinstance(value, _ErrorReply):
            raise value.exception()
        return value

    async def ping(self) -> bool:
        return bool(await self.execute("PING") == b"PONG")

    async def aclose(self) -> None:
        self._closed = True
        if self._opening is not None and not self._opening.done():
            self._opening.cancel()
            with contextlib.suppress(BaseException):
                await self._opening
        if self._conn is not None:
            self._conn.abort(ConnectionError("the client was closed"))
            self._conn = None

    def _expire(self, conn: _Connection, waiter: asyncio.Future[Any]) -> None:
        if waiter.done() or conn.closed:
            return
        loop = asyncio.get_running_loop()
        silent = loop.time() - conn.last_data
        if silent < self._timeout:  # answering earlier calls: this one is queued, not lost
            loop.call_at(conn.last_data + self._timeout, self._expire, conn, waiter)
            return
        # Checked once more after the loop has read its sockets: a loop that was itself
        # blocked that long may hold the answer unread.
        loop.call_soon(self._abort_if_silent, conn, waiter)

    def _abort_if_silent(self, conn: _Connection, waiter: asyncio.Future[Any]) -> None:
        loop = asyncio.get_running_loop()
        if not waiter.done() and not conn.closed:
            if loop.time() - conn.last_data < self._timeout:
                loop.call_at(conn.last_data + self._timeout, self._expire, conn, waiter)
                return
            conn.abort(TimeoutError(f"redis did not answer within {self._timeout} s"))

    async def _connection(self) -> _Connection:
        if self._closed:
            raise ConnectionError("the client was closed")
        # One connection attempt at a time, shared by every caller that needs it.
        if self._opening is None or self._opening.done():
            self._opening = asyncio.ensure_future(self._open())
        return await asyncio.shield(self._opening)

    async def _open(self) -> _Connection:
        loop = asyncio.get_running_loop()
        conn: _Connection | None = None
        try:
            async with asyncio.timeout(self._timeout):
                if self._unix_path is not None:
                    _, conn = await loop.create_unix_connection(_Connection, self._unix_path)
                else:
                    _, conn = await loop.create_connection(
                        _Connection, self._host, self._port, ssl=self._ssl
                    )
                setup: list[asyncio.Future[Any]] = []
                if self._password is not None:
                    auth: list[Arg] = ["AUTH", self._password]
                    if self._username is not None:
                        auth.insert(1, self._username)
                    setup.append(conn.send(auth))
                if self._db:
                    setup.append(conn.send(["SELECT", self._db]))
                for reply in setup:
                    value = await reply
                    if isinstance(value, _ErrorReply):
                        raise ConnectionError(f"redis refused the connection: {value.message}")
        except BaseException:
            if conn is not None:
                conn.abort(ConnectionError("the connection setup failed"))
            raise
        self._conn = conn
        return conn
