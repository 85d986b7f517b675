"""The health of media routes' backends, as this process sees it. One checker per process runs
in the background: it reads every route (each ``health_min_interval_seconds`` at most), GETs
``<backend url><health_path>`` of each backend when its interval is due, and keeps the result in
memory. A backend is down after ``health_failures_to_down`` failed checks (or failed proxied
requests) in a row, and up again after one good check. Every replica checks for itself: no
state is shared, so two replicas may disagree for one interval (ADR 0055)."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

import aiohttp
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from v100.kit.fetch import FetchPolicy, UrlFetchFailed, UrlNotAllowed
from v100.kit.observability import get_logger
from v100.kit.outbound import checked_session, checked_url
from v100.services.stream_proxy.models import MediaRoute
from v100.services.stream_proxy.repository import RouteRepository
from v100.services.stream_proxy.settings import StreamProxySettings

__all__ = ["Backend", "BackendHealth", "RouteHealth", "backends_of", "checking"]

_log = get_logger(__name__)
# Routes the checker looks after in one process, at most.
_MAX_ROUTES = 10_000
_TICK = 0.1


@dataclass(frozen=True, slots=True)
class Backend:
    url: str
    weight: int


@dataclass(slots=True)
class BackendHealth:
    up: bool | None = None  # None: not checked yet
    failures: int = 0
    checked_at: datetime | None = None
    last_error: str | None = None
    # When the next check is due (monotonic seconds).
    due: float = 0.0

    @property
    def state(self) -> Literal["up", "down", "unknown"]:
        return "unknown" if self.up is None else "up" if self.up else "down"


def backends_of(route: MediaRoute) -> list[Backend]:
    return [Backend(str(b["url"]), int(b.get("weight", 1))) for b in route.backends]


@dataclass
class RouteHealth:
    settings: StreamProxySettings
    sessions: async_sessionmaker[AsyncSession]
    policy: FetchPolicy
    _states: dict[tuple[str, str], BackendHealth] = field(default_factory=dict)
    _http: aiohttp.ClientSession | None = None
    _last_read: float = 0.0
    _routes: Sequence[MediaRoute] = ()

    def http(self) -> aiohttp.ClientSession:
        if self._http is None:
            self._http = checked_session(self.policy, per_host=32, total=512)
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    # -- what the proxy asks -------------------------------------------------------------------

    def of(self, route_id: str, url: str) -> BackendHealth:
        return self._states.setdefault((route_id, url), BackendHealth())

    def candidates(self, route: MediaRoute) -> list[Backend]:
        """The backends to try, in order: those up, in a weighted random order, then those not
        checked yet; none that is down."""
        up: list[Backend] = []
        unknown: list[Backend] = []
        for backend in backends_of(route):
            state = self.of(route.id, backend.url).up
            if state is True:
                up.append(backend)
            elif state is None:
                unknown.append(backend)
        return _weighted_order(up) + _weighted_order(unknown)

    def failed(self, route_id: str, url: str, error: str) -> None:
        """A proxied request found the backend broken: it counts as a failed check."""
        self._record(self.of(route_id, url), ok=False, error=error)

    # -- the checker ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Check every route's backends as their intervals come due, until cancelled."""
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a database away: try again on the next tick
                _log.warning("route health tick failed", error=repr(exc))
            await asyncio.sleep(_TICK)

    async def tick(self) -> None:
        now = time.monotonic()
        if now - self._last_read >= self.settings.health_min_interval_seconds:
            async with self.sessions() as session:
                self._routes = await RouteRepository(session).every_route(_MAX_ROUTES)
            self._last_read = now
            self._forget_missing(self._routes)
        due = [
            (route, backend)
            for route in self._routes
            for backend in backends_of(route)
            if self.of(route.id, backend.url).due <= now
        ]
        if due:
            await asyncio.gather(*(self.check(route, backend) for route, backend in due))

    async def check(self, route: MediaRoute, backend: Backend) -> None:
        health = self.of(route.id, backend.url)
        interval = max(route.health_interval_seconds, self.settings.health_min_interval_seconds)
        health.due = time.monotonic() + interval
        url = backend.url.rstrip("/") + route.health_path
        error: str | None = None
        try:
            target = checked_url(url, self.policy)
            async with asyncio.timeout(self.settings.health_timeout_seconds):
                async with self.http().get(target, allow_redirects=False) as answer:
                    await answer.read()
                    if not 200 <= answer.status < 300:
                        error = f"health check answered {answer.status}"
        except TimeoutError:
            error = f"no answer within {self.settings.health_timeout_seconds:g} s"
        except (aiohttp.ClientError, OSError, UrlNotAllowed, UrlFetchFailed) as exc:
            error = f"{type(exc).__name__}: {exc}"[:200]
        self._record(health, ok=error is None, error=error)

    def _record(self, health: BackendHealth, *, ok: bool, error: str | None) -> None:
        health.checked_at = datetime.now(UTC)
        if ok:
            health.up, health.failures, health.last_error = True, 0, None
            return
        health.failures += 1
        health.last_error = error
        if health.failures >= self.settings.health_failures_to_down or health.up is None:
            health.up = False

    def _forget_missing(self, routes: Iterable[MediaRoute]) -> None:
        present = {(route.id, backend.url) for route in routes for backend in backends_of(route)}
        for key in [key for key in self._states if key not in present]:
            del self._states[key]


def _weighted_order(backends: list[Backend]) -> list[Backend]:
    """A random order in which a backend comes first with a chance proportional to its weight
    (Efraimidis and Spirakis' keys)."""
    keyed = [(random.random() ** (1.0 / b.weight), b) for b in backends]
    return [backend for _, backend in sorted(keyed, key=lambda pair: pair[0], reverse=True)]


@contextlib.asynccontextmanager
async def checking(health: RouteHealth, migrated: asyncio.Event) -> AsyncIterator[None]:
    """The checker running in the background for as long as the service runs (from the moment
    its tables exist)."""

    async def run() -> None:
        await migrated.wait()
        await health.run()

    task = asyncio.create_task(run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await health.aclose()
