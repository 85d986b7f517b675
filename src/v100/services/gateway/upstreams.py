"""The gateway's routing table and its connections to the other services: which service serves a
path (longest public prefix wins), each service's base URL, one keep-alive pool per service, and
the caller's internal token (minted once, reused while it is fresh)."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Annotated

import aiohttp
from fastapi import Depends, Request

from v100.contracts.topology import SERVICES
from v100.kit.auth import InternalTokens, Principal
from v100.kit.errors import ProblemError
from v100.services.gateway.settings import GatewaySettings

__all__ = [
    "Route",
    "Upstream",
    "UpstreamFailed",
    "UpstreamTimeout",
    "Upstreams",
    "UpstreamsDep",
    "get_upstreams",
]

# Headers aiohttp would add on its own; the proxy forwards only what the caller sent.
_NO_AUTO_HEADERS = ("User-Agent", "Accept", "Accept-Encoding", "Content-Type")


class UpstreamTimeout(ProblemError):
    status = 504
    slug = "upstream-timeout"
    title = "Upstream service timed out"


class UpstreamFailed(ProblemError):
    status = 502
    slug = "upstream-failed"
    title = "Upstream service failed"


@dataclass(eq=False, slots=True)
class Upstream:
    """One service behind the gateway and its pool of keep-alive connections."""

    name: str
    base_url: str  # no trailing slash; may carry a path prefix
    summary: str = ""
    _session: aiohttp.ClientSession | None = field(default=None, repr=False)

    @property
    def ws_base_url(self) -> str:
        return "ws" + self.base_url.removeprefix("http")


@dataclass(frozen=True, slots=True)
class Route:
    prefix: str
    upstream: Upstream

    @property
    def path(self) -> str:
        """The route group in metrics and access logs (read as ``scope["route"].path``)."""
        return f"{self.prefix}/*"


class _TokenCache:
    """Internal tokens by principal. Minting costs tens of microseconds per request on the hot
    path; a token is reused for half its lifetime, so what a service receives always has at
    least the other half left."""

    def __init__(self, reuse_seconds: float, max_entries: int = 8192) -> None:
        self._reuse = reuse_seconds
        self._max = max_entries
        self._entries: dict[tuple[InternalTokens, Principal], tuple[str, float]] = {}

    def bearer(self, tokens: InternalTokens, principal: Principal) -> str:
        key = (tokens, principal)
        now = time.monotonic()
        hit = self._entries.get(key)
        if hit is not None and hit[1] > now:
            return hit[0]
        if len(self._entries) >= self._max:
            self._entries.clear()  # rare: a burst of distinct callers; re-minting is cheap
        value = f"Bearer {tokens.mint(principal)}"
        self._entries[key] = (value, now + self._reuse)
        return value


class Upstreams:
    """Every service but the gateway, with the public prefixes that lead to each."""

    def __init__(
        self,
        urls: Mapping[str, str],
        prefixes: Mapping[str, str],
        *,
        summaries: Mapping[str, str] | None = None,
        connect_timeout: float = 2.0,
        read_timeout: float = 60.0,
        max_connections: int = 256,
        keepalive_seconds: float = 4.0,
        token_reuse_seconds: float = 30.0,
    ) -> None:
        summaries = summaries or {}
        self._upstreams = {
            name: Upstream(name, url.rstrip("/"), summaries.get(name, ""))
            for name, url in urls.items()
        }
        self._routes = {
            prefix.rstrip("/"): Route(prefix.rstrip("/"), self._upstreams[name])
            for prefix, name in prefixes.items()
        }
        self._depth = max((p.count("/") for p in self._routes), default=0)
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self._max_connections = max_connections
        self._keepalive = keepalive_seconds
        self._tokens = _TokenCache(token_reuse_seconds)

    @classmethod
    def from_settings(cls, settings: GatewaySettings) -> Upstreams:
        urls: dict[str, str] = {}
        prefixes: dict[str, str] = {}
        for info in SERVICES:
            if info.name == settings.service:
                continue
            urls[info.name] = settings.upstreams.get(info.name, info.url)
            for prefix in info.prefixes + info.websocket_prefixes:
                prefixes[prefix] = info.name
        unknown = set(settings.upstreams) - set(urls)
        if unknown:
            raise ValueError(f"V100_GATEWAY_UPSTREAMS names unknown services: {sorted(unknown)}")
        return cls(
            urls,
            prefixes,
            summaries={info.name: info.summary for info in SERVICES},
            connect_timeout=settings.upstream_connect_timeout_seconds,
            read_timeout=settings.upstream_read_timeout_seconds,
            max_connections=settings.upstream_max_connections,
            keepalive_seconds=settings.upstream_keepalive_seconds,
            token_reuse_seconds=settings.platform.internal_token_ttl_seconds / 2,
        )

    def __iter__(self) -> Iterator[Upstream]:
        return iter(self._upstreams.values())

    def __getitem__(self, name: str) -> Upstream:
        return self._upstreams[name]

    @property
    def prefixes(self) -> tuple[str, ...]:
        return tuple(self._routes)

    def routed(self) -> list[Upstream]:
        """The services with public routes, in topology order."""
        names = {route.upstream.name for route in self._routes.values()}
        return [upstream for upstream in self if upstream.name in names]

    def route(self, path: str) -> Route | None:
        """The route whose prefix is the longest one matching ``path`` on a segment boundary
        (``/v1/events`` serves ``/v1/events/x`` but not ``/v1/events-stream``)."""
        parts = path.split("/", self._depth + 1)
        for end in range(min(len(parts), self._depth + 1), 1, -1):
            route = self._routes.get("/".join(parts[:end]))
            if route is not None:
                return route
        return None

    def bearer(self, tokens: InternalTokens, principal: Principal) -> str:
        return self._tokens.bearer(tokens, principal)

    def session(self, upstream: Upstream) -> aiohttp.ClientSession:
        """The upstream's pool, opened on first use (aiohttp needs the running loop)."""
        session = upstream._session
        if session is None or session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections,
                keepalive_timeout=self._keepalive,
                ttl_dns_cache=60,
            )
            session = aiohttp.ClientSession(
                connector=connector,
                # Responses pass through byte for byte; a service's cookies never stick here.
                auto_decompress=False,
                cookie_jar=aiohttp.DummyCookieJar(),
                skip_auto_headers=_NO_AUTO_HEADERS,
                requote_redirect_url=False,
                timeout=self.timeout(),
            )
            upstream._session = session
        return session

    def timeout(self, read: float | None = None) -> aiohttp.ClientTimeout:
        return aiohttp.ClientTimeout(
            total=None,
            # ``connect`` includes waiting for a free connection of the pool: a saturated
            # upstream answers 503 quickly instead of queueing callers without bound.
            connect=self.connect_timeout * 2,
            sock_connect=self.connect_timeout,
            sock_read=read if read is not None else self.read_timeout,
        )

    async def close(self, _runtime: object = None) -> None:
        """Closes every pool (an ``on_shutdown`` hook); they reopen on next use."""
        for upstream in self._upstreams.values():
            session, upstream._session = upstream._session, None
            if session is not None:
                await session.close()


def get_upstreams(request: Request) -> Upstreams:
    upstreams: Upstreams = request.app.state.upstreams
    return upstreams


UpstreamsDep = Annotated[Upstreams, Depends(get_upstreams)]
