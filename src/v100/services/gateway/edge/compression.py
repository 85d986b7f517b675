"""Response compression at the gateway: Brotli or gzip, chosen from the caller's
``Accept-Encoding`` with its q-values (RFC 9110 section 12.5.3: ``q=0`` refuses, ``*`` stands for
codings not named, ``identity`` may be preferred or refused), for answers above a size threshold
that are not already compressed media or already encoded. Streaming-safe: a body that arrives in
pieces (a download, server-sent events) is compressed piece by piece and flushed after each, so
every event reaches the caller when the service sends it. Pure ASGI, outside everything else of
the gateway, so its own answers and proxied ones are treated alike."""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Iterable
from typing import Protocol

import brotli
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from v100.services.gateway.edge.timing import HasTrafficMetrics
from v100.services.gateway.edge.traffic_metrics import TrafficMetrics

__all__ = ["CompressionMiddleware", "accepted_codings", "choose_coding"]

# Compressed already (or compressing them gains nothing): never touched. ``image/svg+xml`` and
# ``image/bmp`` are text or raw pixels and do compress.
_INCOMPRESSIBLE_PREFIXES = ("image/", "video/", "audio/", "font/woff")
_COMPRESSIBLE_IMAGES = frozenset({"image/svg+xml", "image/bmp", "image/x-icon"})
_INCOMPRESSIBLE = frozenset(
    {
        "application/octet-stream",
        "application/zip",
        "application/gzip",
        "application/x-gzip",
        "application/x-brotli",
        "application/zstd",
        "application/x-zstd",
        "application/x-bzip2",
        "application/x-xz",
        "application/x-7z-compressed",
        "application/x-rar-compressed",
        "application/vnd.rar",
        "application/pdf",
        "application/ogg",
        "application/vnd.ms-fontobject",
        "multipart/byteranges",
    }
)
# No body to compress, or one whose bytes are pinned by a range.
_UNTOUCHED_STATUS = frozenset({204, 206, 304})
_STREAM_TYPE = "text/event-stream"
# Larger pieces are compressed off the event loop (zlib and brotli release the GIL).
_THREAD_BYTES = 256 * 1024
_PARSED_MAX = 512
_IDENTITY_BY_DEFAULT = 0.001  # the lowest q there is (RFC 9110 12.4.2)


def accepted_codings(header: bytes | None) -> tuple[float, float, float] | None:
    """The caller's q-values for ``br``, ``gzip`` and ``identity``; None without the header
    (then nothing is compressed: the common reading, and nginx's)."""
    if header is None:
        return None
    explicit: dict[str, float] = {}
    for element in header.decode("latin-1").split(","):
        coding, _, params = element.partition(";")
        coding = coding.strip().lower()
        if not coding:
            continue
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = -1.0
        if not 0.0 <= q <= 1.0:
            continue  # a malformed element says nothing
        explicit["gzip" if coding == "x-gzip" else coding] = q
    star = explicit.get("*")
    unnamed = 0.0 if star is None else star
    return (
        explicit.get("br", unnamed),
        explicit.get("gzip", unnamed),
        # Acceptable unless refused, but preferred only when the caller says so.
        explicit.get("identity", _IDENTITY_BY_DEFAULT if star is None else star),
    )


def choose_coding(
    accepted: tuple[float, float, float] | None, *, prefer_gzip: bool = False
) -> str | None:
    """``br``, ``gzip`` or None (identity). The highest q wins; on a tie Brotli (smaller), or
    gzip when ``prefer_gzip`` (long streams: a fraction of Brotli's memory per stream)."""
    if accepted is None:
        return None
    br, gzip, identity = accepted
    if prefer_gzip:
        coding, q = ("gzip", gzip) if gzip >= br else ("br", br)
    else:
        coding, q = ("br", br) if br >= gzip else ("gzip", gzip)
    if q <= 0.0 or identity > q:
        return None
    return coding


class _Encoder(Protocol):
    def chunk(self, data: bytes) -> bytes: ...
    def finish(self, data: bytes) -> bytes: ...


class _Gzip:
    __slots__ = ("_c",)

    def __init__(self, level: int) -> None:
        self._c = zlib.compressobj(level, zlib.DEFLATED, 31)  # 16 + 15: a gzip wrapper

    def chunk(self, data: bytes) -> bytes:
        return self._c.compress(data) + self._c.flush(zlib.Z_SYNC_FLUSH)

    def finish(self, data: bytes) -> bytes:
        return self._c.compress(data) + self._c.flush(zlib.Z_FINISH)


class _Brotli:
    __slots__ = ("_c",)

    def __init__(self, quality: int) -> None:
        self._c = brotli.Compressor(quality=quality, lgwin=18)

    def chunk(self, data: bytes) -> bytes:
        out: bytes = self._c.process(data) + self._c.flush()
        return out

    def finish(self, data: bytes) -> bytes:
        out: bytes = self._c.process(data) + self._c.finish()
        return out


def _media_type(value: bytes) -> str:
    return value.split(b";", 1)[0].strip().lower().decode("latin-1")


def _compressible(media_type: str) -> bool:
    if media_type in _INCOMPRESSIBLE:
        return False
    return media_type in _COMPRESSIBLE_IMAGES or not media_type.startswith(_INCOMPRESSIBLE_PREFIXES)


def _with_vary(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    for index, (name, value) in enumerate(headers):
        if name.lower() == b"vary":
            tokens = {token.strip().lower() for token in value.split(b",")}
            if b"accept-encoding" not in tokens and b"*" not in tokens:
                headers[index] = (name, value + b", Accept-Encoding")
            return headers
    headers.append((b"vary", b"Accept-Encoding"))
    return headers


def _content_length(headers: Iterable[tuple[bytes, bytes]]) -> int | None:
    for name, value in headers:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


def compressible_type(
    status: int, headers: Iterable[tuple[bytes, bytes]], min_bytes: int
) -> str | None:
    """The media type of an answer this middleware would touch (compress, or at least mark
    ``Vary: Accept-Encoding``); None for one it passes through exactly as it is."""
    # Header names are lower-case in ASGI (our server, Starlette and the proxy see to it).
    content_type: bytes | None = None
    length: int | None = None
    for name, value in headers:
        if name == b"content-type":
            content_type = value
        elif name == b"content-length":
            length = int(value) if value.isdigit() else None
        elif name == b"content-encoding" or (
            name == b"cache-control" and b"no-transform" in value.lower()
        ):
            return None  # encoded already, or the sender forbids transforming it
    if (
        content_type is None
        or (length is not None and length < min_bytes)
        or status in _UNTOUCHED_STATUS
        or status < 200
    ):
        return None
    media_type = _media_type(content_type)
    return media_type if _compressible(media_type) else None


class CompressionMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        min_bytes: int = 1024,
        gzip_level: int = 6,
        brotli_quality: int = 4,
        traffic: HasTrafficMetrics | None = None,
    ) -> None:
        self.app = app
        self.min_bytes = min_bytes
        self.gzip_level = gzip_level
        self.brotli_quality = brotli_quality
        self.traffic = traffic  # holds the metrics once the app has started
        self._parsed: dict[bytes, tuple[float, float, float] | None] = {}

    @property
    def metrics(self) -> TrafficMetrics | None:
        return self.traffic.metrics if self.traffic is not None else None

    def encoder(self, coding: str) -> _Encoder:
        return _Brotli(self.brotli_quality) if coding == "br" else _Gzip(self.gzip_level)

    def accepted(self, scope: Scope) -> tuple[float, float, float] | None:
        for name, value in scope["headers"]:
            if name == b"accept-encoding":
                # Callers send a handful of distinct values: parsed once each.
                try:
                    return self._parsed[value]
                except KeyError:
                    if len(self._parsed) >= _PARSED_MAX:
                        self._parsed.clear()
                    parsed = self._parsed[value] = accepted_codings(value)
                    return parsed
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.app(scope, receive, self.compressing(scope, send))

    def compressing(self, scope: Scope, send: Send) -> Send:
        """``send`` with this middleware's work on the answer (the proxied path's too)."""
        return _Answer(self, send, self.accepted(scope), head=scope["method"] == "HEAD").send


_PASS, _HOLD, _STREAM = 0, 1, 2


class _Answer:
    """One response on its way out: passed through, held until its first body part shows
    whether it is worth compressing, or compressed as a stream."""

    __slots__ = (
        "_coding",
        "_encoder",
        "_middleware",
        "_send",
        "_start",
        "_state",
        "accepted",
        "head",
    )

    def __init__(
        self,
        middleware: CompressionMiddleware,
        send: Send,
        accepted: tuple[float, float, float] | None,
        *,
        head: bool,
    ) -> None:
        self._middleware = middleware
        self._send = send
        self.accepted = accepted
        self.head = head
        self._state = _PASS
        self._start: Message | None = None
        self._coding: str | None = None
        self._encoder: _Encoder | None = None

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            await self._on_start(message)
        elif self._state == _PASS or kind != "http.response.body":
            if self._start is not None:  # held, then something else than a body came
                await self._send(self._start)
                self._start = None
                self._state = _PASS
            await self._send(message)
        elif self._state == _HOLD:
            await self._on_first_body(message)
        else:
            await self._on_stream_body(message)

    async def _on_start(self, message: Message) -> None:
        media_type = compressible_type(
            message["status"], message.get("headers", ()), self._middleware.min_bytes
        )
        if media_type is None:
            await self._send(message)
            return
        headers = list(message["headers"])
        # The answer depends on Accept-Encoding from here on, compressed or not.
        message["headers"] = headers = _with_vary(headers)
        coding = choose_coding(self.accepted, prefer_gzip=media_type == _STREAM_TYPE)
        if coding is None or self.head:
            await self._send(message)
            return
        self._coding = coding
        self._start = message
        if _content_length(headers) is None:
            # A stream: headers go now (an event-stream client waits for them), then each
            # piece compressed as it comes.
            await self._begin_stream()
        else:
            self._state = _HOLD

    async def _begin_stream(self) -> None:
        start = self._start
        coding = self._coding
        assert start is not None
        assert coding is not None
        self._start = None
        self._state = _STREAM
        self._encoder = self._middleware.encoder(coding)
        start["headers"] = _encoded_headers(start["headers"], coding, None)
        metrics = self._middleware.metrics
        if metrics is not None:
            metrics.compressed.labels(coding).inc()
        await self._send(start)

    async def _on_first_body(self, message: Message) -> None:
        start = self._start
        coding = self._coding
        assert start is not None
        assert coding is not None
        body: bytes = message.get("body", b"")
        if message.get("more_body", False):
            await self._begin_stream()
            await self._on_stream_body(message)
            return
        self._start = None
        self._state = _PASS
        encoder = self._middleware.encoder(coding)
        encoded = (
            await asyncio.to_thread(encoder.finish, body)
            if len(body) >= _THREAD_BYTES
            else encoder.finish(body)
        )
        if len(body) < self._middleware.min_bytes or len(encoded) >= len(body):
            await self._send(start)
            await self._send(message)
            return
        start["headers"] = _encoded_headers(start["headers"], coding, len(encoded))
        self._count(coding, len(body), len(encoded), response=True)
        await self._send(start)
        await self._send({"type": "http.response.body", "body": encoded})

    async def _on_stream_body(self, message: Message) -> None:
        encoder = self._encoder
        assert encoder is not None
        assert self._coding is not None
        body: bytes = message.get("body", b"")
        more = message.get("more_body", False)
        if more and not body:
            return
        step = encoder.chunk if more else encoder.finish
        encoded = await asyncio.to_thread(step, body) if len(body) >= _THREAD_BYTES else step(body)
        self._count(self._coding, len(body), len(encoded), response=False)
        if encoded or not more:
            await self._send({"type": "http.response.body", "body": encoded, "more_body": more})

    def _count(self, coding: str, raw: int, encoded: int, *, response: bool) -> None:
        metrics = self._middleware.metrics
        if metrics is None:
            return
        if response:
            metrics.compressed.labels(coding).inc()
        metrics.compression_bytes.labels(coding, "in").inc(raw)
        metrics.compression_bytes.labels(coding, "out").inc(encoded)


def _encoded_headers(
    headers: list[tuple[bytes, bytes]], coding: str, length: int | None
) -> list[tuple[bytes, bytes]]:
    out: list[tuple[bytes, bytes]] = []
    for name, value in headers:
        lower = name.lower()
        if lower in (b"content-length", b"accept-ranges"):
            continue  # the length changes; ranges would address the identity bytes
        if lower == b"etag" and not value.startswith(b"W/"):
            # Same meaning, other bytes: no longer a strong validator (RFC 9110 8.8.1).
            value = b"W/" + value
        out.append((name, value))
    out.append((b"content-encoding", coding.encode()))
    if length is not None:
        out.append((b"content-length", b"%d" % length))
    return out
