"""The response cache in the gateway's request path: a pure ASGI middleware right before the
proxy that answers proxied GET and HEAD requests from the cache when it can, makes identical
concurrent misses share one upstream fetch (in this process through a future, across replicas
through a short Redis lock), and keeps what the upstream allows. It starts with the app (it
watches the ASGI lifespan for the runtime), so it needs no hook of its own in ``create_app``."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from v100.kit.auth import Principal
from v100.kit.errors import BackendUnavailable
from v100.kit.http import Runtime
from v100.services.gateway.edge.cache._cache import (
    CacheConfig,
    Flight,
    Found,
    ResponseCache,
    vary_values,
)
from v100.services.gateway.edge.cache._entry import (
    CachedResponse,
    RequestKey,
    audience_of,
    header_lines,
)
from v100.services.gateway.edge.cache._fetch import (
    CACHE_STATUS_NAME,
    Ask,
    Lease,
    fetch,
    headers_of_304,
    not_modified,
    replay,
    with_status,
)
from v100.services.gateway.edge.cache._invalidation import Invalidations
from v100.services.gateway.edge.cache._l2 import RedisTier
from v100.services.gateway.edge.cache._metrics import CacheMetrics
from v100.services.gateway.edge.cache._policy import (
    RequestView,
    normalized_query,
)
from v100.services.gateway.edge.proxy.upstreams import Route, Upstreams
from v100.services.gateway.edge.settings import EdgeConfig

__all__ = ["EdgeCache", "ResponseCacheMiddleware", "config_from", "serve_from_memory"]

_METHODS = frozenset({"GET", "HEAD"})
_NAME = CACHE_STATUS_NAME
_COLLAPSED = f"{_NAME}; fwd=uri-miss; collapsed"
_BYPASS = f"{_NAME}; fwd=bypass"
_HIT_LINES = b"age: %d\r\ncache-status: " + _NAME.encode() + b"; hit; ttl=%d\r\n"
_REMEMBERED_ROUTES = 10_000


def config_from(settings: EdgeConfig) -> CacheConfig:
    edge = settings.edge
    return CacheConfig(
        l1_max_bytes=edge.response_cache_l1_max_bytes,
        max_body_bytes=edge.response_cache_max_body_bytes,
        max_ttl_seconds=edge.response_cache_max_ttl_seconds,
        lock_seconds=edge.response_cache_lock_seconds,
        wait_seconds=edge.response_cache_wait_seconds,
        hit_for_miss_seconds=edge.response_cache_hit_for_miss_seconds,
        redis_url=edge.response_cache_redis_url or settings.platform.redis_url,
        redis_prefix=edge.response_cache_redis_prefix,
        redis_timeout_seconds=edge.response_cache_redis_timeout_seconds,
        redis_probe_seconds=edge.response_cache_redis_probe_seconds,
    )


class EdgeCache:
    """The response cache as the gateway's request path runs it: the cache itself, routes by
    path, metrics, readiness and the invalidation listeners. Built once by ``create_app``,
    started by its startup hook, and shared by ``ResponseCacheMiddleware`` (the full path) and
    the hit path (``*_now``)."""

    def __init__(self, upstreams: Upstreams, settings: EdgeConfig) -> None:
        self.upstreams = upstreams
        self.enabled = settings.edge.response_cache_enabled
        self.cache = ResponseCache(config_from(settings))
        self.metrics: CacheMetrics | None = None
        self.invalidations = Invalidations(self.cache, on_applied=self.count_invalidation)
        self.runtime: Runtime | None = None
        # The hit path's routes by path (hot paths repeat; routing splits and joins the path).
        self._routes: dict[str, Route | None] = {}

    async def start(self, runtime: Runtime) -> None:
        """A startup hook: wire the cache to a freshly started runtime: metrics, readiness,
        Redis, and the invalidation listeners (background tasks the runtime cancels at
        shutdown)."""
        if self.runtime is runtime:
            return
        self.runtime = runtime
        cache = self.cache
        registry = runtime.metrics.registry
        if self.metrics is None or self.metrics.registry is not registry:
            self.metrics = CacheMetrics(
                registry,
                l1_bytes=lambda: cache.l1.bytes_used,
                l1_entries=lambda: len(cache.l1),
                l2_up=lambda: 0.0 if cache.l2 is not None and not cache.l2.up else 1.0,
            )
        tier = cache.new_redis_tier()
        cache.l2 = tier
        cache.forget_all()  # a restarted runtime may have missed invalidations meanwhile
        runtime.checks["response_cache"] = self.ready
        background = runtime.background
        if tier is not None:
            await tier.probe()
            background.append(asyncio.create_task(tier.watch(), name="response-cache:watch"))
            background.append(asyncio.create_task(_close_at_exit(tier), name="response-cache"))
        invalidations = self.invalidations = Invalidations(cache, self.count_invalidation)
        with contextlib.suppress(BackendUnavailable, TimeoutError):
            await invalidations.prepare(runtime.bus)
        background.append(asyncio.create_task(invalidations.consume(runtime.bus)))
        background.append(asyncio.create_task(invalidations.listen(runtime.bus)))
        # Invalidations published from now on reach this replica's memory.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(invalidations.listening.wait(), timeout=2)

    async def ready(self) -> None:
        tier = self.cache.l2
        if tier is None or tier.up or await tier.probe():
            return
        raise BackendUnavailable(
            "redis does not answer: the response cache serves from this replica's memory only"
        )

    def count_invalidation(self) -> None:
        if self.metrics is not None:
            self.metrics.invalidations.inc()

    # --- requests ------------------------------------------------------------------------

    @property
    def ready_now(self) -> bool:
        """Whether memory may answer now (on, and started); the hit path's first check."""
        return self.enabled and self.runtime is not None and self.metrics is not None

    def request_now(
        self, path: str, headers: Sequence[tuple[bytes, bytes]]
    ) -> tuple[Route, RequestView] | None:
        """The route and cache view of a request (``path`` as sent: not percent-encoded) that
        memory could answer, as ``_handle`` sees them; None when the request itself sends it
        past the cache or to no route. Depends on the request alone (the hit path keeps it)."""
        routes = self._routes
        if path in routes:
            route = routes[path]
        else:
            if len(routes) >= _REMEMBERED_ROUTES:
                routes.clear()  # rare; routing again is cheap
            route = routes[path] = self.upstreams.route(path)
        if route is None:
            return None
        view = RequestView.of(headers)
        if view.bypass_reason() is not None:
            return None
        return route, view

    @staticmethod
    def key_of(principal: Principal, path: str, query: bytes) -> RequestKey:
        """The request's key as ``_handle`` makes it for ``principal``."""
        return RequestKey(
            principal.tenant_id, audience_of(principal), path, normalized_query(query)
        )

    def fresh_now(
        self, key: RequestKey, headers: Sequence[tuple[bytes, bytes]], *, unmarked: bool = False
    ) -> CachedResponse | None:
        """The fresh entry in this process's memory that ``_handle`` would answer with, or
        None (the full path then looks further). Nothing is counted here. ``unmarked``: the
        caller has just seen ``not_cacheable_now(key)`` false."""
        return self.cache.fresh_in_memory(key, headers, unmarked=unmarked)

    def not_cacheable_now(self, key: RequestKey) -> bool:
        """Whether ``_handle`` would find ``key`` marked not cacheable in memory (hit-for-miss)
        and so forward the request at once, keeping the answer only if it became cacheable."""
        return self.cache.l1.get(("p", key.parts), peek=True)[0] is not None

    def land(self, flight_key: object, flight: Flight, entry: CachedResponse | None) -> None:
        """Hand ``entry`` (None: go to the upstream yourselves) to the flight's waiters, and
        let later requests start their own."""
        flight.resolve(entry)
        if self.cache.flights.get(flight_key) is flight:
            del self.cache.flights[flight_key]


class ResponseCacheMiddleware:
    def __init__(self, app: ASGIApp, cache: EdgeCache) -> None:
        self.app = app
        self.front = cache

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        front = self.front
        if (
            scope["type"] == "http"
            and front.enabled
            and front.metrics is not None  # started
            and scope["method"] in _METHODS
        ):
            route = front.upstreams.route(scope["path"])
            if route is not None:
                await self._handle(scope, receive, send, route)
                return
        await self.app(scope, receive, send)

    async def _handle(self, scope: Scope, receive: Receive, send: Send, route: Route) -> None:
        front = self.front
        metrics = front.metrics
        assert metrics is not None  # started
        cache = front.cache
        scope["route"] = route  # labels metrics and logs of hits too, which skip the proxy
        group = route.path
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        view = RequestView.of(headers)
        if view.bypass_reason() is not None:
            metrics.count(group, "bypass")
            await self.app(scope, receive, self._stamping(send, _BYPASS))
            return
        principal = (scope.get("state") or {}).get("principal")
        if not isinstance(principal, Principal):
            principal = None
        raw_path = scope.get("raw_path") or scope["path"].encode()
        key = RequestKey(
            principal.tenant_id if principal is not None else "",
            audience_of(principal),
            raw_path.decode("latin-1"),
            normalized_query(scope.get("query_string", b"")),
        )
        ask = Ask(
            key,
            view,
            headers,
            group,
            authenticated=principal is not None or view.has_credentials,
            epoch=cache.epoch(key.tenant),
        )
        head = scope["method"] == "HEAD"
        found = await cache.lookup(key, headers)
        if found.entry is not None:
            metrics.count(group, "hit")
            ttl = int(found.entry.remaining(time.time()))
            await replay(found.entry, view, head, send, f"{_NAME}; hit; ttl={ttl}")
            return
        result = "stale" if found.stale else "miss"
        fwd = "stale" if found.stale else "vary-miss" if found.vary is not None else "uri-miss"
        if head or found.not_cacheable:
            # HEAD has no body to store; a URL just found not cacheable is fetched without
            # making anyone wait (hit-for-miss), and kept if its answer became cacheable.
            metrics.count(group, result)
            await fetch(
                self.app,
                cache,
                metrics,
                scope,
                receive,
                send,
                ask,
                found,
                fwd,
                store=not head,
                whole=False,
            )
            return
        values = vary_values(found.vary, headers) if found.vary is not None else None
        flight_key = (key.parts, values)
        running = cache.flights.get(flight_key)
        if running is not None:
            entry = await running.wait(cache.config.wait_seconds)
            # Joined by URL before the Vary names were known: only a matching variant serves.
            if entry is not None and entry.vary_values == vary_values(entry.vary, headers):
                metrics.count(group, "coalesced")
                await replay(entry, view, False, send, _COLLAPSED)
                return
            metrics.count(group, result)
            await fetch(
                self.app, cache, metrics, scope, receive, send, ask, found, f"{fwd}; collapsed=?0"
            )
            return
        flight = Flight()
        cache.flights[flight_key] = flight
        lease: Lease | None = None
        try:
            tier = cache.l2
            if found.generations is not None and tier is not None:
                lock_key = tier.lock_key(
                    key.tenant, key.variant_digest(values) if values is not None else key.digest
                )
                token = uuid.uuid4().hex.encode()
                outcome = await tier.acquire(lock_key, token, cache.config.lock_seconds)
                if outcome == "leader":
                    lease = Lease(tier, lock_key, token)
                    # Another replica may have stored it between our lookup and our lock.
                    again = Found()
                    await cache.lookup_shared(key, headers, again)
                    if again.entry is not None:
                        flight.resolve(again.entry)
                        await lease.release()
                        metrics.count(group, "coalesced")
                        await replay(again.entry, view, False, send, _COLLAPSED)
                        return
                    found.generations = again.generations or found.generations
                elif outcome == "wait":
                    entry = await cache.wait_for_other_replica(key, headers, lock_key)
                    if entry is not None:
                        flight.resolve(entry)
                        metrics.count(group, "coalesced")
                        await replay(entry, view, False, send, _COLLAPSED)
                        return
                    fwd = f"{fwd}; collapsed=?0"
                elif outcome == "not-cacheable":
                    cache.mark_not_cacheable(key)
                    front.land(flight_key, flight, None)
            metrics.count(group, result)
            await fetch(
                self.app,
                cache,
                metrics,
                scope,
                receive,
                send,
                ask,
                found,
                fwd,
                land=lambda entry: front.land(flight_key, flight, entry),
                lease=lease,
            )
        finally:
            front.land(flight_key, flight, None)
            if lease is not None:
                await lease.release()

    def _stamping(self, send: Send, value: str) -> Send:
        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = with_status(message, value)
            await send(message)

        return stamped


def serve_from_memory(
    entry: CachedResponse, view: RequestView, head: bool
) -> tuple[int, bytes, bytes]:
    """A fresh entry's answer: status, header lines and body, as ``replay`` sends them (the
    entry's headers, then ``Age`` and ``Cache-Status``). The caller counts the hit."""
    age = entry.age(time.time())
    lines = _HIT_LINES % (age, entry.lifetime - age)
    if not_modified(entry, view):
        return 304, header_lines(headers_of_304(entry)) + lines, b""
    return entry.status, entry.lines + lines, b"" if head else entry.body


async def _close_at_exit(tier: RedisTier) -> None:
    """Holds the Redis client open for the runtime's life; the runtime cancels its background
    tasks at shutdown, and this one then closes the client."""
    try:
        await asyncio.get_running_loop().create_future()
    finally:
        await tier.close()
