"""The tus 1.0.0 HTTP surface: OPTIONS, POST (creation, creation-with-upload, deferred length),
HEAD, PATCH (checksum) and DELETE (termination) as Starlette routes a host adds under its
prefix, or as an ASGI app it mounts. Parses headers, calls ``TusUploads``, shapes answers."""

from __future__ import annotations

import inspect
import re
from collections.abc import AsyncIterator, Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Router
from starlette.types import Receive, Scope, Send

from v100.kit.auth import Principal
from v100.kit.errors import BackendUnavailable, ProblemError, Unauthorized, UnsupportedMediaType
from v100.kit.http import ScopedRoute, problem_response, runtime_of
from v100.kit.storage import ObjectStore
from v100.kit.tus._errors import InvalidTusRequest, TusVersionUnsupported
from v100.kit.tus._headers import encode_metadata, http_date, parse_checksum, parse_metadata
from v100.kit.tus._headers import parse_size as _size
from v100.kit.tus._settings import TusSettings
from v100.kit.tus._table import TusUpload
from v100.kit.tus._uploads import (
    BodyInterrupted,
    OnComplete,
    PreCreate,
    TusUploads,
    UploadOwner,
)

__all__ = [
    "TUS_VERSION",
    "Authorize",
    "TusServer",
    "principal_owner",
    "runtime_sessions",
    "runtime_store",
]

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = (
    "creation",
    "creation-with-upload",
    "creation-defer-length",
    "termination",
    "checksum",
    "expiration",
)
OFFSET_CONTENT_TYPE = "application/offset+octet-stream"
# Headers a browser client must be able to read on a cross-origin answer.
EXPOSED_HEADERS = (
    "Location, Upload-Offset, Upload-Length, Upload-Metadata, Upload-Defer-Length, "
    "Upload-Expires, Tus-Resumable, Tus-Version, Tus-Extension, Tus-Max-Size, "
    "Tus-Checksum-Algorithm"
)
_CONTENT_TYPE_KEYS = ("filetype", "contentType", "content_type", "type", "mimeType")
_MIME = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*", re.IGNORECASE)

Authorize = Callable[[Request], Awaitable[UploadOwner] | UploadOwner]
SessionsFor = Callable[[Request], async_sessionmaker[AsyncSession]]
StoreFor = Callable[[Request], ObjectStore]


def principal_owner(request: Request) -> UploadOwner:
    """``authorize`` for a kit.http service: the caller the internal token names."""
    principal = getattr(request.state, "principal", None)
    if not isinstance(principal, Principal):
        raise Unauthorized("No caller identity on this request.")
    return UploadOwner(tenant_id=principal.tenant_id, user_id=principal.user_id)


def runtime_sessions(request: Request) -> async_sessionmaker[AsyncSession]:
    """The database of a kit.http service, once migrated."""
    runtime = runtime_of(request)
    if runtime.sessions is None:
        raise RuntimeError("this service has no database for kit_tus_uploads")
    if not runtime.migrated.is_set():
        raise BackendUnavailable("The database is not ready yet.", retry_after=1)
    sessions: async_sessionmaker[AsyncSession] = runtime.sessions
    return sessions


def runtime_store(request: Request) -> ObjectStore:
    """The object store of a kit.http service whose spec has a ``StorageSpec``."""
    store = runtime_of(request).storage
    if store is None:
        raise RuntimeError("this service has no object store (ServiceSpec.storage)")
    return store


async def _body(request: Request) -> AsyncIterator[bytes]:
    try:
        async for chunk in request.stream():
            if chunk:
                yield chunk
    except ClientDisconnect:
        raise BodyInterrupted from None


def _first(value: str | None) -> str | None:
    """The first entry of a comma-joined header a chain of proxies appended to."""
    if not value:
        return None
    return value.split(",", 1)[0].strip() or None


class TusServer:
    """A tus endpoint over the host's database and object store; see the package docstring for
    how a service mounts it and schedules its sweep."""

    def __init__(
        self,
        *,
        authorize: Authorize = principal_owner,
        settings: TusSettings | None = None,
        pre_create: PreCreate | None = None,
        on_complete: OnComplete | None = None,
        sessions: SessionsFor = runtime_sessions,
        store: StoreFor = runtime_store,
    ) -> None:
        self.settings = settings or TusSettings()
        self.authorize = authorize
        self.pre_create = pre_create
        self.on_complete = on_complete
        self._sessions = sessions
        self._store = store
        self._app = Router(routes=list(self.routes("", scope=None)))

    def uploads(self, sessions: async_sessionmaker[AsyncSession], store: ObjectStore) -> TusUploads:
        """The domain object over given backends: what a sweep job calls ``sweep()`` on."""
        return TusUploads(
            sessions,
            store,
            self.settings,
            pre_create=self.pre_create,
            on_complete=self.on_complete,
        )

    def routes(self, path: str, *, scope: str | None) -> list[ScopedRoute]:
        """Routes for a creation URL at ``path`` ("/v1/uploads") and uploads under it, open to
        callers whose credential carries ``scope`` (None: the URLs are signed links, which
        ``authorize`` checks)."""
        base = path.rstrip("/")
        collection = ["OPTIONS", "POST"]
        item = ["OPTIONS", "HEAD", "PATCH", "DELETE", "POST"]
        urls = [(f"{base}/", self._collection, collection)]
        urls.append((f"{base}/{{upload_id}}", self._item, item))
        if base:
            urls.insert(0, (base, self._collection, collection))
        return [
            ScopedRoute(url, endpoint, scope=scope, methods=methods, include_in_schema=False)
            for url, endpoint, methods in urls
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve as a mounted ASGI app: ``Mount("/v1/uploads", app=server)``."""
        await self._app(scope, receive, send)

    # -- dispatch -----------------------------------------------------------------------------
    async def _collection(self, request: Request) -> Response:
        return await self._answer(request, None)

    async def _item(self, request: Request) -> Response:
        return await self._answer(request, request.path_params["upload_id"])

    async def _answer(self, request: Request, upload_id: str | None) -> Response:
        method = request.method
        override = request.headers.get("x-http-method-override")
        if method == "POST" and override and upload_id is not None:
            method = override.upper()  # for clients behind proxies that drop PATCH/DELETE
        try:
            if method == "OPTIONS":
                response = self._options()
            else:
                if request.headers.get("tus-resumable") != TUS_VERSION:
                    raise TusVersionUnsupported(
                        f"send Tus-Resumable: {TUS_VERSION}",
                        headers={"Tus-Version": TUS_VERSION},
                    )
                response = await self._dispatch(request, method, upload_id)
        except ProblemError as exc:
            response = problem_response(exc, request.url.path)
        response.headers["Tus-Resumable"] = TUS_VERSION
        response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
        return response

    async def _dispatch(self, request: Request, method: str, upload_id: str | None) -> Response:
        if upload_id is None:
            if method == "POST":
                return await self._create(request)
        elif method == "HEAD":
            return await self._head(request, upload_id)
        elif method == "PATCH":
            return await self._patch(request, upload_id)
        elif method == "DELETE":
            return await self._delete(request, upload_id)
        raise InvalidTusRequest(f"{method} is not a tus request here")

    async def _context(self, request: Request) -> tuple[TusUploads, UploadOwner]:
        owner = self.authorize(request)
        if inspect.isawaitable(owner):
            owner = await owner
        assert isinstance(owner, UploadOwner)
        return self.uploads(self._sessions(request), self._store(request)), owner

    # -- tus requests -------------------------------------------------------------------------
    def _options(self) -> Response:
        return Response(
            status_code=204,
            headers={
                "Tus-Version": TUS_VERSION,
                "Tus-Extension": ",".join(TUS_EXTENSIONS),
                "Tus-Max-Size": str(self.settings.max_size),
                "Tus-Checksum-Algorithm": ",".join(self.settings.checksum_algorithms),
            },
        )

    async def _create(self, request: Request) -> Response:
        headers = request.headers
        length = _size("Upload-Length", headers.get("upload-length"))
        deferred = headers.get("upload-defer-length")
        if deferred is not None and deferred.strip() != "1":
            raise InvalidTusRequest("Upload-Defer-Length must be 1")
        if (length is None) == (deferred is None):
            raise InvalidTusRequest("send exactly one of Upload-Length and Upload-Defer-Length")
        if headers.get("upload-concat"):
            raise InvalidTusRequest("the concatenation extension is not supported")
        metadata = parse_metadata(headers.get("upload-metadata"))
        with_body = self._has_body(request)
        checksum = parse_checksum(headers.get("upload-checksum"), self.settings.checksum_algorithms)
        uploads, owner = await self._context(request)
        upload = await uploads.create(
            owner, length=length, metadata=metadata, content_type=_content_type(metadata)
        )
        location = self._location(request, upload.id)
        if with_body:
            try:
                upload = await uploads.write(
                    upload.id,
                    owner,
                    offset=0,
                    body=_body(request),
                    checksum=checksum,
                    content_length=_size("Content-Length", headers.get("content-length")),
                )
            except ProblemError as exc:
                # The upload exists: tell the client where, so it can resume.
                exc.headers["Location"] = location
                raise
        answer = {"Location": location, **self._state_headers(upload)}
        if not with_body:
            answer.pop("Upload-Offset")
        return Response(status_code=201, headers=answer)

    async def _head(self, request: Request, upload_id: str) -> Response:
        uploads, owner = await self._context(request)
        upload = await uploads.current(upload_id, owner)
        headers = self._state_headers(upload)
        if upload.length is None:
            headers["Upload-Defer-Length"] = "1"
        else:
            headers["Upload-Length"] = str(upload.length)
        if upload.metadata:
            headers["Upload-Metadata"] = encode_metadata(upload.metadata)
        headers["Cache-Control"] = "no-store"
        return Response(status_code=200, headers=headers)

    async def _patch(self, request: Request, upload_id: str) -> Response:
        headers = request.headers
        if not self._has_body(request):
            raise UnsupportedMediaType(f"a PATCH body must be {OFFSET_CONTENT_TYPE}")
        offset = _size("Upload-Offset", headers.get("upload-offset"))
        if offset is None:
            raise InvalidTusRequest("Upload-Offset is required")
        checksum = parse_checksum(headers.get("upload-checksum"), self.settings.checksum_algorithms)
        uploads, owner = await self._context(request)
        upload = await uploads.write(
            upload_id,
            owner,
            offset=offset,
            body=_body(request),
            checksum=checksum,
            new_length=_size("Upload-Length", headers.get("upload-length")),
            content_length=_size("Content-Length", headers.get("content-length")),
        )
        return Response(status_code=204, headers=self._state_headers(upload))

    async def _delete(self, request: Request, upload_id: str) -> Response:
        uploads, owner = await self._context(request)
        await uploads.terminate(upload_id, owner)
        return Response(status_code=204)

    # -- helpers ------------------------------------------------------------------------------
    @staticmethod
    def _has_body(request: Request) -> bool:
        content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        return content_type == OFFSET_CONTENT_TYPE

    @staticmethod
    def _state_headers(upload: TusUpload) -> dict[str, str]:
        headers = {"Upload-Offset": str(upload.offset)}
        if not upload.finished:
            headers["Upload-Expires"] = http_date(upload.expires_at)
        return headers

    def _location(self, request: Request, upload_id: str) -> str:
        """The upload's URL as the client reaches it, through the gateway or another proxy."""
        if self.settings.public_base_url:
            return f"{self.settings.public_base_url.rstrip('/')}/{upload_id}"
        if self.settings.public_origin:
            origin = self.settings.public_origin.rstrip("/")
            return f"{origin}{request.url.path.rstrip('/')}/{upload_id}"
        headers = request.headers
        scheme, host, prefix = request.url.scheme, headers.get("host", request.url.netloc), ""
        if self.settings.trust_forwarded_headers:
            scheme = _first(headers.get("x-forwarded-proto")) or scheme
            host = _first(headers.get("x-forwarded-host")) or host
            prefix = (_first(headers.get("x-forwarded-prefix")) or "").rstrip("/")
            if prefix and not prefix.startswith("/"):
                prefix = "/" + prefix
        return f"{scheme}://{host}{prefix}{request.url.path.rstrip('/')}/{upload_id}"


def _content_type(metadata: dict[str, str | None]) -> str | None:
    for key in _CONTENT_TYPE_KEYS:
        value = metadata.get(key)
        if value and len(value) <= 255 and _MIME.fullmatch(value):
            return value
    return None
