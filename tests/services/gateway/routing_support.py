"""What the routing tests share: a small real service (built with the kit's app factory, verifying
internal tokens) that echoes what reaches it, streams bodies both ways, hangs, and speaks
WebSocket; and the real gateway app served by uvicorn on loopback with a signed-up tenant and an
API key. Every other service points at a port where nothing listens."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import httpx
from fastapi import APIRouter, FastAPI, Request, WebSocket
from fastapi.responses import Response, StreamingResponse
from pydantic import create_model
from pydantic_settings import SettingsConfigDict

from v100.contracts.topology import SERVICES
from v100.kit.http import PrincipalDep, Runtime, ServiceSpec, create_service_app
from v100.kit.settings import PlatformSettings, ServiceSettings
from v100.kit.testing.servers import dead_url, serving
from v100.services.gateway.app import create_app
from v100.services.gateway.settings import GatewaySettings
from v100.services.gateway.testing import UNTHROTTLED

INTERNAL_SECRET = "internal-secret-for-routing-tests-0123456789"
JWT_SECRET = "gateway-jwt-secret-for-routing-tests-012345"
PASSWORD = "correct horse battery staple"
BLOCK = bytes(range(256)) * 256  # 64 KiB of a known pattern


def pattern_sha256(size: int) -> str:
    digest = hashlib.sha256()
    for offset in range(0, size, len(BLOCK)):
        digest.update(BLOCK[: min(len(BLOCK), size - offset)])
    return digest.hexdigest()


def assert_problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"] == f"/problems/{slug}"
    assert "Traceback" not in response.text
    return body


class EchoSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="V100_ECHO_", extra="ignore")
    service: ClassVar[str] = "echo"


@dataclass
class EchoLog:
    """What the echo service saw: requests by path, WebSocket close codes from the caller."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    closes: list[int | None] = field(default_factory=list)
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    stream_stopped: asyncio.Event = field(default_factory=asyncio.Event)


def echo_service(
    prefix: str,
    var_dir: Path,
    *,
    item_fields: Mapping[str, Any] | None = None,
    ready: bool = True,
) -> tuple[FastAPI, EchoLog]:
    """A service answering under ``prefix`` (the public prefix of the service it stands for)."""
    log = EchoLog()
    router = APIRouter(prefix=prefix)
    item_model = create_model("Item", **dict(item_fields or {"name": (str, ...)}))

    @router.api_route("/echo", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    async def echo(request: Request, principal: PrincipalDep) -> dict[str, Any]:
        """Echo what arrived."""
        body = await request.body()
        seen = {
            "method": request.method,
            "path": request.scope["path"],
            "raw_path": request.scope["raw_path"].decode(),
            "query": request.scope["query_string"].decode(),
            "headers": [[k.decode(), v.decode()] for k, v in request.scope["headers"]],
            "tenant_id": principal.tenant_id,
            "user_id": principal.user_id,
            "body": body.decode(errors="replace"),
        }
        log.requests.append(seen)
        return seen

    async def create_item(item: Any) -> Any:
        """Create an item."""
        return item

    # A model made at run time: its annotation must be the class, not a string.
    create_item.__annotations__ = {"item": item_model, "return": item_model}
    router.add_api_route("/items", create_item, methods=["POST"])

    @router.post("/upload")
    async def upload(request: Request, principal: PrincipalDep) -> dict[str, Any]:
        """Count and hash a streamed body."""
        digest = hashlib.sha256()
        size = 0
        async for chunk in request.stream():
            digest.update(chunk)
            size += len(chunk)
        return {"bytes": size, "sha256": digest.hexdigest()}

    @router.get("/download")
    async def download(size: int, principal: PrincipalDep) -> StreamingResponse:
        """Stream ``size`` bytes of the known pattern (chunked: no Content-Length)."""

        async def chunks() -> AsyncIterator[bytes]:
            for offset in range(0, size, len(BLOCK)):
                yield BLOCK[: min(len(BLOCK), size - offset)]

        return StreamingResponse(chunks(), media_type="application/octet-stream")

    @router.get("/forever")
    async def forever(principal: PrincipalDep) -> StreamingResponse:
        """Stream until the reader goes away."""

        async def chunks() -> AsyncIterator[bytes]:
            try:
                while True:
                    yield BLOCK
                    await asyncio.sleep(0.005)
            finally:
                log.stream_stopped.set()

        return StreamingResponse(chunks(), media_type="application/octet-stream")

    @router.get("/hang")
    async def hang(principal: PrincipalDep) -> dict[str, str]:
        """Never answer in time."""
        await asyncio.sleep(60)
        return {}

    @router.get("/hop")
    async def hop(principal: PrincipalDep) -> Response:
        """Answer with hop-by-hop headers a proxy must not pass on."""
        return Response(
            b"hop",
            headers={
                "Connection": "X-Upstream-Hop",
                "X-Upstream-Hop": "secret",
                "Keep-Alive": "timeout=5",
                "Proxy-Authenticate": "Basic",
                "Trailer": "X-Checksum",
                "X-End-To-End": "kept",
                "Via": "1.1 upstream-proxy",
            },
        )

    @router.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        offered = websocket.scope.get("subprotocols") or []
        await websocket.accept(subprotocol="v100.echo" if "v100.echo" in offered else None)
        principal = websocket.state.principal
        await websocket.send_text(f"hello {principal.tenant_id}")
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                log.closes.append(message.get("code"))
                log.closed.set()
                return
            text = message.get("text")
            if text is not None and text.startswith("close:"):
                _, code, reason = text.split(":", 2)
                await websocket.close(int(code), reason)
                return
            if text is not None:
                await websocket.send_text(text)
            else:
                await websocket.send_bytes(message["bytes"])

    internal = APIRouter()

    @internal.get("/internal/not-routed")
    async def not_routed() -> dict[str, str]:
        """A path the gateway does not route here."""
        return {}

    @asynccontextmanager
    async def not_ready(runtime: Runtime) -> AsyncIterator[None]:
        async def failing() -> None:
            raise ConnectionError("the fake backend is down")

        runtime.checks["fake"] = failing
        yield

    platform = PlatformSettings(
        var_dir=var_dir, internal_token_secret=INTERNAL_SECRET, max_body_bytes=256 * 1024**2
    )
    app = create_service_app(
        ServiceSpec(
            EchoSettings(platform=platform),
            title=f"echo at {prefix}",
            routers=[router, internal],
            components=[] if ready else [not_ready],
        )
    )
    return app, log


def all_upstreams(**live: str) -> dict[str, str]:
    """Every service the gateway knows, pointing at a dead port unless given."""
    nowhere = dead_url()
    names = [info.name for info in SERVICES if info.name != "gateway"]
    return {name: live.get(name, nowhere) for name in names}


@dataclass
class RunningGateway:
    url: str
    app: FastAPI
    tenant_id: str
    user_id: str
    api_key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"X-API-Key": self.api_key}

    def client(self, **kwargs: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, trust_env=False, **kwargs)


@asynccontextmanager
async def gateway_serving(
    tmp_path: Path,
    upstreams: Mapping[str, str],
    *,
    database_url: str | None = None,
    **overrides: Any,
) -> AsyncIterator[RunningGateway]:
    """The real gateway app (authentication, proxy, status, OpenAPI) on a loopback port; its
    own database is SQLite unless ``database_url`` names another."""
    var_dir = tmp_path / f"gateway-{uuid.uuid4().hex[:6]}"
    platform = PlatformSettings(var_dir=var_dir, internal_token_secret=INTERNAL_SECRET)
    settings = GatewaySettings(
        platform=platform,
        database_url=database_url or f"sqlite+aiosqlite:///{var_dir}/gateway.db",
        jwt_secret=JWT_SECRET,
        password_time_cost=1,
        password_memory_kib=1024,
        password_parallelism=1,
        upstreams=dict(upstreams),
        **{**UNTHROTTLED, **overrides},
    )
    app = create_app(settings)
    async with serving(app) as url:
        async with httpx.AsyncClient(base_url=url, trust_env=False) as http:
            for _ in range(600):
                if (await http.get("/ready")).status_code == 200:
                    break
                await asyncio.sleep(0.05)
            email = f"owner-{uuid.uuid4().hex[:8]}@example.com"
            signup = await http.post(
                "/v1/auth/signup",
                json={"email": email, "password": PASSWORD, "tenant_name": "Routing"},
            )
            assert signup.status_code == 201, signup.text
            account = signup.json()
            key = await http.post(
                "/v1/api-keys",
                json={"name": "routing", "scopes": ["*"]},
                headers={"Authorization": f"Bearer {account['access_token']}"},
            )
            assert key.status_code == 201, key.text
        yield RunningGateway(
            url=url,
            app=app,
            tenant_id=account["tenant"]["id"],
            user_id=account["user"]["id"],
            api_key=key.json()["key"],
        )


@asynccontextmanager
async def echo_serving(
    prefix: str, var_dir: Path, **kwargs: Any
) -> AsyncIterator[tuple[str, EchoLog]]:
    app, log = echo_service(prefix, var_dir, **kwargs)
    async with serving(app) as url:
        yield url, log
