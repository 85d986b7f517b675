"""Forwarding a miss with the cache in the loop, and answering from an entry: a storable answer
(up to the size limit) is read whole, stored, handed to the waiters, then answered from the
entry; anything else streams through as it comes, once the waiters were told to go to the
upstream themselves. ``If-None-Match`` is answered here, from the entry."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from v100.services.gateway.edge.cache._cache import Found, ResponseCache, vary_values
from v100.services.gateway.edge.cache._entry import CachedResponse, RequestKey
from v100.services.gateway.edge.cache._l2 import RedisTier
from v100.services.gateway.edge.cache._metrics import CacheMetrics
from v100.services.gateway.edge.cache._policy import (
    Decision,
    RequestView,
    decide,
    etag_matches,
)

__all__ = [
    "CACHE_STATUS_NAME",
    "Ask",
    "Capture",
    "Lease",
    "answer_from",
    "fetch",
    "headers_of_304",
    "not_modified",
    "replay",
    "with_status",
]

# The cache fetches whole representations and answers conditionals itself.
_CONDITIONAL = frozenset(
    {b"if-none-match", b"if-modified-since", b"if-match", b"if-unmodified-since", b"if-range"}
)
# What a 304 carries of the stored answer (RFC 9110 section 15.4.5).
_KEPT_BY_304 = frozenset(
    {b"cache-control", b"content-location", b"etag", b"expires", b"vary", b"last-modified", b"via"}
)
CACHE_STATUS_NAME = "v100-gateway"  # our member of Cache-Status (RFC 9211)


def with_status(message: Message, value: str) -> Message:
    headers = [*message.get("headers", ()), (b"cache-status", value.encode())]
    return {**message, "headers": headers}


def not_modified(entry: CachedResponse, view: RequestView) -> bool:
    """Whether the caller's ``If-None-Match`` matches ``entry``: answered 304."""
    inm, etag = view.if_none_match, entry.etag
    if inm is None or not etag or entry.status != 200:
        return False
    return etag_matches(inm, etag)


def headers_of_304(entry: CachedResponse) -> list[tuple[bytes, bytes]]:
    return [h for h in entry.headers if h[0] in _KEPT_BY_304]


def answer_from(
    entry: CachedResponse, view: RequestView, head: bool, status: str
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Status, headers and body of an answer served from ``entry``: 304 when the caller's
    ``If-None-Match`` matches, else the stored answer with its ``Age`` and ``Cache-Status``."""
    age = str(int(entry.age(time.time()))).encode()
    extra = [(b"age", age), (b"cache-status", status.encode())]
    if not_modified(entry, view):
        return 304, [*headers_of_304(entry), *extra], b""
    return entry.status, [*entry.headers, *extra], b"" if head else entry.body


async def replay(
    entry: CachedResponse, view: RequestView, head: bool, send: Send, status: str
) -> None:
    code, headers, body = answer_from(entry, view, head, status)
    await send({"type": "http.response.start", "status": code, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@dataclass(slots=True)
class Lease:
    """This replica's hold on a Redis fill lock."""

    tier: RedisTier
    key: str
    token: bytes
    done: bool = False

    async def release(self, not_cacheable_seconds: float = 0) -> None:
        if not self.done:
            self.done = True
            await self.tier.release(self.key, self.token, not_cacheable_seconds)


@dataclass(slots=True)
class Ask:
    """One request as the cache sees it."""

    key: RequestKey
    view: RequestView
    headers: Sequence[tuple[bytes, bytes]]  # as the caller sent them
    group: str
    authenticated: bool
    epoch: tuple[int, int]


class Capture:
    """The ``send`` a forwarded miss answers through (``fetch``): a storable answer (up to the
    size limit) is held whole, then ``end`` stores it, hands it to the waiters and answers from
    the entry; anything else streams through to ``send`` as it comes, once the waiters were told
    to go to the upstream themselves (and the URL marked not cacheable)."""

    __slots__ = (
        "_chunks",
        "_decision",
        "_lease",
        "_send",
        "_size",
        "_start",
        "_status",
        "ask",
        "cache",
        "found",
        "land",
        "metrics",
        "mode",
        "store",
    )

    def __init__(
        self,
        cache: ResponseCache,
        metrics: CacheMetrics,
        send: Send,
        ask: Ask,
        found: Found,
        fwd: str,
        *,
        land: Callable[[CachedResponse | None], None] | None = None,
        lease: Lease | None = None,
        store: bool = True,
    ) -> None:
        self.cache = cache
        self.metrics = metrics
        self._send = send
        self.ask = ask
        self.found = found
        self._status = f"{CACHE_STATUS_NAME}; fwd={fwd}"
        self.land = land
        self._lease = lease
        self.store = store
        self.mode = "waiting"  # waiting → buffering → done, or → passing at any point
        self._start: Message | None = None
        self._decision: Decision | None = None
        self._chunks: list[bytes] = []
        self._size = 0

    async def _not_storing(self, reason: str, *, mark: bool = True) -> None:
        self.metrics.not_stored_because(self.ask.group, reason)
        if mark:
            self.cache.mark_not_cacheable(self.ask.key)
        if self.land is not None:
            self.land(None)
        if self._lease is not None:
            await self._lease.release(self.cache.config.hit_for_miss_seconds if mark else 0)

    async def send(self, message: Message) -> None:
        send = self._send
        if self.mode == "passing":
            await send(message)
            return
        kind = message["type"]
        config = self.cache.config
        if kind == "http.response.start":
            decision = decide(
                message["status"],
                message.get("headers", ()),
                authenticated=self.ask.authenticated,
                max_ttl=config.max_ttl_seconds,
                max_body=config.max_body_bytes,
            )
            if not self.store or not decision.storable:
                if self.store:
                    await self._not_storing(decision.reason)
                self.mode = "passing"
                await send(with_status(message, self._status))
                return
            self.mode, self._start, self._decision = "buffering", message, decision
            return
        if kind == "http.response.body" and self.mode == "buffering":
            body: bytes = message.get("body", b"")
            more: bool = message.get("more_body", False)
            self._chunks.append(body)
            self._size += len(body)
            if self._size > config.max_body_bytes:
                # Larger than we keep: from here on it streams through untouched.
                await self._not_storing("too-large")
                self.mode = "passing"
                assert self._start is not None
                await send(with_status(self._start, self._status))
                await send(
                    {
                        "type": "http.response.body",
                        "body": b"".join(self._chunks),
                        "more_body": more,
                    }
                )
                self._chunks.clear()
            elif not more:
                self.mode = "done"
            return
        await send(message)

    async def end(self) -> None:
        """After the upstream's answer was relayed (the app returned)."""
        send = self._send
        if self.mode == "buffering":
            # The answer broke off: pass on what came, with no end, so the connection drops
            # (as the proxy does) rather than looking complete.
            await self._not_storing("incomplete", mark=False)
            if self._start is not None:
                await send(with_status(self._start, self._status))
                await send(
                    {
                        "type": "http.response.body",
                        "body": b"".join(self._chunks),
                        "more_body": True,
                    }
                )
            return
        if self.mode != "done":
            return
        start, decision, ask, found = self._start, self._decision, self.ask, self.found
        assert start is not None
        assert decision is not None
        entry = CachedResponse.build(
            start["status"],
            start.get("headers", ()),
            b"".join(self._chunks),
            stored_at=time.time(),
            lifetime=decision.lifetime,
            initial_age=decision.initial_age,
            vary=decision.vary,
            vary_values=vary_values(decision.vary, ask.headers),
            generations=found.generations or (),
        )
        # Waiters in this process first, then memory and Redis, then the lock: a replica that
        # polls sees the entry once the lock is gone.
        if self.land is not None:
            self.land(entry)
        await self.cache.store(ask.key, entry, ask.epoch, found.generations)
        if self._lease is not None:
            await self._lease.release()
        await replay(entry, ask.view, False, send, f"{self._status}; stored")


async def fetch(
    app: ASGIApp,
    cache: ResponseCache,
    metrics: CacheMetrics,
    scope: Scope,
    receive: Receive,
    send: Send,
    ask: Ask,
    found: Found,
    fwd: str,
    *,
    land: Callable[[CachedResponse | None], None] | None = None,
    lease: Lease | None = None,
    store: bool = True,
    whole: bool = True,
) -> None:
    """Forward to the upstream. A storable answer (up to the size limit) is read whole,
    stored, handed to the waiters, then answered from the entry; anything else streams
    through as it comes, after the waiters were told to go to the upstream themselves."""
    if whole:
        scope["headers"] = [h for h in ask.headers if h[0] not in _CONDITIONAL]
    capture = Capture(cache, metrics, send, ask, found, fwd, land=land, lease=lease, store=store)
    await app(scope, receive, capture.send)
    await capture.end()
