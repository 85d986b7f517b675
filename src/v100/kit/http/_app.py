"""The service app factory: one FastAPI app per service with the platform's middleware, problem
handlers, ``/health``, ``/ready`` and ``/metrics``, and a lifespan that opens the service's
database (migrating it), bus, cache and storage, and closes them again."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from fastapi import APIRouter, FastAPI
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from v100.kit import db as kit_db
from v100.kit.auth import InternalTokens
from v100.kit.bus import Bus, create_bus
from v100.kit.cache import Cache, create_cache
from v100.kit.errors import BackendUnavailable, NotFound
from v100.kit.http._middleware import (
    BodyLimitMiddleware,
    InternalAuthMiddleware,
    RequestContextMiddleware,
)
from v100.kit.http._problems import install_problem_handlers, problem_response
from v100.kit.http._protocol import HttpLimits
from v100.kit.http._rules import HttpRulesMiddleware
from v100.kit.observability import HttpMetrics, configure_logging, get_logger
from v100.kit.settings import ServiceSettings
from v100.kit.storage import LocalDiskStore, ObjectStore, presigned_routes, storage_from_settings

__all__ = [
    "Access",
    "Component",
    "DatabaseSpec",
    "Runtime",
    "ServiceSpec",
    "StorageSpec",
    "create_service_app",
]

PUBLIC_PATHS = ("/health", "/ready", "/metrics", "/openapi.json", "/docs", "/docs/oauth2-redirect")
ReadinessCheck = Callable[[], Awaitable[Any]]
Endpoint = Callable[[Request], Awaitable[Response]]

_log = get_logger("v100.app")
T = TypeVar("T")
SettingsT = TypeVar("SettingsT", bound=ServiceSettings)


@dataclass(frozen=True)
class DatabaseSpec:
    """A service's tables and the folder of its Alembic revisions."""

    metadata: MetaData
    migrations_dir: Path


@dataclass(frozen=True)
class StorageSpec:
    """The service keeps objects in the platform's store. ``presigned_path``: the local-disk
    store's presigned links point there and are served there, without an internal token (the
    signed link is the credential); S3 links point at S3."""

    presigned_path: str | None = None


@dataclass(frozen=True)
class Access:
    """Who may call the service. Every path needs an internal token (the gateway's, or a
    service's), except: ``public_paths`` (exact paths: endpoints that authenticate their
    callers another way, such as a vendor's signed webhook) and ``public_prefixes`` (ending in
    "/": URLs that carry a signed token of their own). ``own_token_prefixes``: under these, a
    request whose bearer is not an internal token reaches its route without a principal, for
    routes that check a token of their own there (meeting tokens, docs/adr/0051); every other
    route there still answers 401 for want of a principal. ``internal_token=False`` (the
    gateway) serves the public itself."""

    internal_token: bool = True
    public_paths: Sequence[str] = ()
    public_prefixes: Sequence[str] = ()
    own_token_prefixes: Sequence[str] = ()


@dataclass
class Runtime:
    """What a running service holds open, built by the app's lifespan. Endpoints reach it through
    typed dependencies (``SettingsOf``, ``Provided``: a service's ``deps.py``), never through
    ``app.state``; a component hands what it opens to them with ``provide``."""

    settings: ServiceSettings
    tokens: InternalTokens
    metrics: HttpMetrics
    bus: Bus
    cache: Cache
    storage: ObjectStore | None = None
    engine: AsyncEngine | None = None
    sessions: async_sessionmaker[AsyncSession] | None = None
    migrated: asyncio.Event = field(default_factory=asyncio.Event)
    checks: dict[str, ReadinessCheck] = field(default_factory=dict)
    background: list[asyncio.Task[None]] = field(default_factory=list)
    # The local-disk store's presigned-link endpoint, when the app serves those links.
    presigned: Endpoint | None = None
    _provided: dict[type, object] = field(default_factory=dict)

    def provide(self, component: object) -> None:
        """Make ``component`` what ``get(type(component))`` answers for as long as the service
        runs (one object per type; a second is a wiring mistake)."""
        kind = type(component)
        if kind in self._provided:
            raise RuntimeError(f"{self.settings.service}: a {kind.__name__} is provided twice")
        self._provided[kind] = component

    def get(self, kind: type[T]) -> T:
        """The component of type ``kind``; a ``LookupError`` naming it when none was provided."""
        component = self.find(kind)
        if component is None:
            raise LookupError(f"{self.settings.service} provides no {kind.__name__}")
        return component

    def find(self, kind: type[T]) -> T | None:
        """The component of type ``kind``, or None (an optional vendor client not configured)."""
        component = self._provided.get(kind)
        if component is None:
            return None
        if not isinstance(component, kind):  # pragma: no cover - provide() keys by type
            raise TypeError(f"{kind.__name__} is provided as a {type(component).__name__}")
        return component


async def _retry_until_done(
    runtime: Runtime, step: str, work: Callable[[], Awaitable[Any]], done: asyncio.Event
) -> None:
    """Run a start-up step now, or keep trying in the background while its backend is away;
    readiness reports the step as down meanwhile, and the service still starts."""
    delay = 0.5
    while True:
        try:
            await work()
        except Exception as exc:
            _log.warning(
                f"{step} failed; retrying", service=runtime.settings.service, error=repr(exc)
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
            continue
        done.set()
        return


async def _check_all(checks: Mapping[str, ReadinessCheck]) -> dict[str, str]:
    async def one(check: ReadinessCheck) -> str:
        try:
            answer = await asyncio.wait_for(check(), timeout=2.0)
        except Exception as exc:
            return f"down: {type(exc).__name__}: {exc}"[:200]
        # Some backends answer ping() with a bool rather than raising.
        return "down: no answer" if answer is False else "ok"

    results = await asyncio.gather(*(one(check) for check in checks.values()))
    return dict(zip(checks, results, strict=True))


# What a service opens beside the kit's backends (a job queue, a vendor client, resources its
# jobs share): entered in order once those are open, after which the service runs; left in the
# reverse order at shutdown. It hands what endpoints need to them with ``runtime.provide``.
Component = Callable[["Runtime"], contextlib.AbstractAsyncContextManager[None]]


@dataclass(frozen=True)
class ServiceSpec(Generic[SettingsT]):
    """Everything ``create_service_app`` builds a service from.

    ``middleware`` runs innermost (inside the size limit and the internal-token check), in the
    order given. ``body_limits`` maps a path prefix to its own request-body limit (the
    platform's ``max_body_bytes`` elsewhere). ``own_docs``: the app serves its own
    ``/openapi.json`` and ``/docs`` (the gateway, which merges every service's), so FastAPI's
    are left out."""

    settings: SettingsT
    title: str
    description: str = ""
    routers: Sequence[APIRouter] = ()
    database: DatabaseSpec | None = None
    storage: StorageSpec | None = None
    access: Access = Access()
    body_limits: Mapping[str, int] = field(default_factory=dict)
    middleware: Sequence[Middleware] = ()
    components: Sequence[Component] = ()
    own_docs: bool = False


def create_service_app(spec: ServiceSpec[Any]) -> FastAPI:
    """Build a service's app from its spec."""
    settings, database, storage_spec = spec.settings, spec.database, spec.storage
    presigned_path = None if storage_spec is None else storage_spec.presigned_path
    platform = settings.platform
    configure_logging(platform.log_level, json=platform.log_json, file=platform.log_file)
    tokens = InternalTokens(
        platform.resolved_internal_token_secret, platform.internal_token_ttl_seconds
    )
    metrics = HttpMetrics(settings.service)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = Runtime(
            settings=settings,
            tokens=tokens,
            metrics=metrics,
            bus=create_bus(platform.redis_url),
            cache=create_cache(platform.redis_url),
        )
        runtime.checks["bus"] = runtime.bus.ping
        if database is not None:
            runtime.engine = kit_db.create_engine(settings.resolved_database_url)
            runtime.sessions = kit_db.create_sessionmaker(runtime.engine)
            engine = runtime.engine

            async def database_ready() -> None:
                if not runtime.migrated.is_set():
                    raise BackendUnavailable("migrations have not run yet")
                if not await kit_db.ping(engine):
                    raise BackendUnavailable("the database does not answer")

            runtime.checks["database"] = database_ready
            url = settings.resolved_database_url

            async def run_migrations() -> None:
                await kit_db.migrate(
                    settings.service, url, database.migrations_dir, database.metadata
                )

            runtime.background.append(
                asyncio.create_task(
                    _retry_until_done(runtime, "migration", run_migrations, runtime.migrated)
                )
            )
        if storage_spec is not None:
            storage = runtime.storage = storage_from_settings(
                platform, presign_base_url=presigned_path or "/_objects"
            )
            if presigned_path is not None and isinstance(storage, LocalDiskStore):
                runtime.presigned = presigned_routes(storage, presigned_path)[0].endpoint
            bucket_ready = asyncio.Event()

            async def storage_ready() -> None:
                if not bucket_ready.is_set():
                    raise BackendUnavailable("the bucket or object root is not set up yet")
                await storage.ping()

            runtime.checks["storage"] = storage_ready
            runtime.background.append(
                asyncio.create_task(
                    _retry_until_done(runtime, "storage setup", storage.ensure_bucket, bucket_ready)
                )
            )
        app.state.runtime = runtime
        try:
            async with contextlib.AsyncExitStack() as components:
                try:
                    for component in spec.components:
                        await components.enter_async_context(component(runtime))
                except Exception as exc:
                    # Kept for `v100 up`, which shows why a service did not start (uvicorn only
                    # logs it).
                    app.state.startup_error = exc
                    raise
                yield
        finally:
            for task in runtime.background:
                task.cancel()
            if runtime.background:
                # Bounded: a library that swallows a cancel must not hang the shutdown.
                _, stuck = await asyncio.wait(runtime.background, timeout=10)
                for task in stuck:
                    _log.warning("background task did not stop", task=task.get_name())
            if runtime.storage is not None:
                await runtime.storage.close()
            if runtime.engine is not None:
                await runtime.engine.dispose()
            await runtime.cache.close()
            await runtime.bus.close()

    app = FastAPI(
        title=spec.title,
        description=spec.description,
        lifespan=lifespan,
        version="1",
        # Without an OpenAPI URL FastAPI also leaves out /docs and /redoc.
        openapi_url=None if spec.own_docs else "/openapi.json",
        # "/v1/projects/" is 404, not a redirect: a service's redirect names its own internal
        # address, and a client following it would send its credential there.
        redirect_slashes=False,
    )
    app.state.http_limits = HttpLimits(
        head_timeout=platform.http_head_timeout_seconds,
        keep_alive=platform.http_keep_alive_seconds,
        max_connections=platform.http_max_connections,
        health_headroom=platform.http_health_headroom,
    )
    install_problem_handlers(app)
    for router in spec.routers:
        app.include_router(router)

    if presigned_path is not None:

        async def presigned_object(request: Request) -> Response:
            runtime: Runtime = request.app.state.runtime
            if runtime.presigned is None:  # an S3 deployment signs S3 URLs instead
                raise NotFound("No such link.")
            return await runtime.presigned(request)

        app.add_route(
            f"{presigned_path.rstrip('/')}/{{token}}",
            presigned_object,
            methods=["GET", "HEAD", "PUT"],
            include_in_schema=False,
        )

    @app.get("/health", tags=["operations"], include_in_schema=False)
    async def health() -> dict[str, str]:
        return {"status": "ok", "service": settings.service}

    @app.get("/ready", tags=["operations"], include_in_schema=False)
    async def ready() -> Response:
        runtime: Runtime = app.state.runtime
        results = await _check_all(runtime.checks)
        if all(result == "ok" for result in results.values()):
            return JSONResponse({"status": "ready", "service": settings.service, "checks": results})
        return problem_response(
            BackendUnavailable(
                f"{settings.service} is not ready.", retry_after=1, extra={"checks": results}
            ),
            "/ready",
        )

    @app.get("/metrics", tags=["operations"], include_in_schema=False)
    async def metrics_endpoint() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    # Added innermost first: auth sees only requests within the size limit; the request id
    # and metrics wrap everything.
    for extra in reversed(spec.middleware):
        app.add_middleware(extra.cls, *extra.args, **extra.kwargs)
    access = spec.access
    if access.internal_token:
        app.add_middleware(
            InternalAuthMiddleware,
            tokens=tokens,
            public_paths=(*PUBLIC_PATHS, *access.public_paths),
            public_prefixes=(
                *access.public_prefixes,
                *(() if presigned_path is None else (f"{presigned_path.rstrip('/')}/",)),
            ),
            own_token_prefixes=access.own_token_prefixes,
        )
    app.add_middleware(
        BodyLimitMiddleware, max_bytes=platform.max_body_bytes, limits=spec.body_limits
    )
    # Inside the request context (so refusals carry a request id), before anything else.
    app.add_middleware(HttpRulesMiddleware)
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    return app
