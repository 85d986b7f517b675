"""FastAPI dependencies every service uses: the runtime, the service's own settings and
components by type (``SettingsOf``, ``Provided``, ``ProvidedIfAny``: the aliases in a service's
``deps.py``), the caller (a Principal) with the scope its route needs (``Authorized``), and the
request's session (one commit point; after-commit hooks enqueue jobs and publish events)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Request, WebSocketException
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection
from starlette.responses import Response
from starlette.routing import Route

from v100.kit import db as kit_db
from v100.kit.auth import Principal
from v100.kit.errors import BackendUnavailable, Unauthorized
from v100.kit.http._app import Runtime
from v100.kit.settings import ServiceSettings

_WS_POLICY_VIOLATION = 1008

__all__ = [
    "Authorized",
    "PrincipalDep",
    "Provided",
    "ProvidedIfAny",
    "RuntimeDep",
    "ScopedRoute",
    "SessionDep",
    "SettingsOf",
    "requires",
    "runtime_of",
]

T = TypeVar("T")
SettingsT = TypeVar("SettingsT", bound=ServiceSettings)


# async on purpose: FastAPI runs a plain ``def`` dependency in the thread pool, a thread hop on
# every request for what is an attribute read.
async def get_runtime(connection: HTTPConnection) -> Runtime:
    return runtime_of(connection)


class SettingsOf(Generic[SettingsT]):
    """The service's settings, as its own type (a service's ``deps.py``):

        SettingsDep = Annotated[BillingSettings, Depends(SettingsOf(BillingSettings))]

    A service built with other settings is a wiring mistake, answered with a TypeError."""

    def __init__(self, kind: type[SettingsT]) -> None:
        self.kind = kind

    async def __call__(self, request: HTTPConnection) -> SettingsT:
        settings = runtime_of(request).settings
        if not isinstance(settings, self.kind):
            raise TypeError(f"the app runs {type(settings).__name__}, not {self.kind.__name__}")
        return settings


class Provided(Generic[T]):
    """The component of type ``kind`` a component of the service provided at start-up
    (``runtime.provide``):

        SignerDep = Annotated[UrlSigner, Depends(Provided(UrlSigner))]"""

    def __init__(self, kind: type[T]) -> None:
        self.kind = kind

    async def __call__(self, request: HTTPConnection) -> T:
        return runtime_of(request).get(self.kind)


class ProvidedIfAny(Generic[T]):
    """As ``Provided``, or None when nothing was provided (a vendor client left unconfigured)."""

    def __init__(self, kind: type[T]) -> None:
        self.kind = kind

    async def __call__(self, request: HTTPConnection) -> T | None:
        return runtime_of(request).find(self.kind)


def runtime_of(connection: HTTPConnection) -> Runtime:
    """The running service's runtime, for a plain Starlette endpoint (FastAPI's take
    ``RuntimeDep``)."""
    runtime: Runtime = connection.app.state.runtime
    return runtime


async def get_principal(connection: HTTPConnection) -> Principal:
    principal = getattr(connection.state, "principal", None)
    if not isinstance(principal, Principal):
        raise Unauthorized("No caller identity on this request.")
    return principal


class Authorized:
    """The caller, when its credential carries ``scope`` (403 ``forbidden`` otherwise). Every
    route declares one, in its signature, where a test walking every route of every service
    finds it:

        VideosWrite = Annotated[Principal, Depends(Authorized("videos:write"))]

        @router.post("")
        async def create_video(body: VideoCreate, principal: VideosWrite) -> VideoOut: ...

    More than one scope means any of them: a route read both by tenants and by the operator
    (``Authorized("billing:read", "operator:billing")``) tells the two apart by the scope the
    principal holds. ``requires(scope)`` is the same check for a route that does not need the
    caller."""

    def __init__(self, scope: str, *alternatives: str) -> None:
        self.scopes = (scope, *alternatives)

    async def __call__(self, connection: HTTPConnection) -> Principal:
        principal = await get_principal(connection)
        if any(principal.has_scope(scope) for scope in self.scopes):
            return principal
        if connection.scope["type"] == "websocket":
            # Closed before it is accepted, as the internal-token check closes a socket.
            raise WebSocketException(_WS_POLICY_VIOLATION, f"lacks the scope {self.scopes[0]!r}")
        principal.require_scope(self.scopes[0])
        return principal  # not reached: require_scope raised

    def __repr__(self) -> str:
        return f"Authorized({', '.join(map(repr, self.scopes))})"


class ScopedRoute(Route):
    """A plain Starlette route (a protocol served without FastAPI, such as tus) that checks
    ``scope`` as ``Authorized`` does before its endpoint runs; ``scope=None`` declares a route
    whose URL carries its own credential (a signed link). The route-scope test reads ``scope``."""

    def __init__(
        self,
        path: str,
        endpoint: Callable[[Request], Awaitable[Response]],
        *,
        scope: str | None,
        **options: Any,
    ) -> None:
        self.scope = scope
        if scope is not None:
            authorized, inner = Authorized(scope), endpoint

            async def endpoint(request: Request) -> Response:
                await authorized(request)
                return await inner(request)

        super().__init__(path, endpoint, **options)


def requires(scope: str) -> Any:
    """``Depends(Authorized(scope))``, for ``dependencies=[...]`` of a route or a router."""
    return Depends(Authorized(scope))


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    runtime = runtime_of(request)
    if runtime.sessions is None:
        raise RuntimeError(f"{runtime.settings.service} has no database")
    if not runtime.migrated.is_set():
        raise BackendUnavailable("The database is not ready yet.", retry_after=1)
    async with kit_db.unit_of_work(runtime.sessions) as session:
        yield session


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
# scope="function": commit before the response is sent, so a failed commit is the answer.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
