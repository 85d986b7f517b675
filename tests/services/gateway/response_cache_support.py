"""What the response-cache tests share (no tests here): an origin service that answers with the
caching headers a test asks for in the query string and counts what reaches it, and the real
gateway app served on loopback in front of it, embedded or on real Redis, with callers of two
tenants and of different credential scopes."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import httpx
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic_settings import SettingsConfigDict

from v100.contracts.topology import SERVICES
from v100.kit.bus import Bus
from v100.kit.http import PrincipalDep, ServiceSpec, create_service_app
from v100.kit.settings import PlatformSettings, ServiceSettings
from v100.kit.testing.servers import dead_url, serving
from v100.services.gateway.app import create_app
from v100.services.gateway.settings import GatewaySettings
from v100.services.gateway.testing import INTERNAL_SECRET, JWT_SECRET, UNTHROTTLED, Gateway

PREFIX = "/v1/credits"  # the origin stands in for billing
ROUTE = f"{PREFIX}/*"
BLOCK = bytes(range(256)) * 256


class OriginSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="V100_ORIGIN_", extra="ignore")
    service: ClassVar[str] = "origin"


@dataclass
class Origin:
    url: str
    app: FastAPI
    hits: Counter[str] = field(default_factory=Counter)

    def count(self, url: str) -> int:
        """How many requests for ``url`` (path and query, as httpx sends them) reached it."""
        return self.hits[httpx.URL(url).raw_path.decode()]

    @property
    def bus(self) -> Bus:
        bus: Bus = self.app.state.runtime.bus
        return bus


def origin_app(platform: PlatformSettings, hits: Counter[str]) -> FastAPI:
    router = APIRouter(prefix=PREFIX)

    @router.get("/{rest:path}")
    async def resource(rest: str, request: Request, principal: PrincipalDep) -> Response:
        """Answer as the query asks: cc, vary, etag, cookie, age, status, delay, size."""
        query = request.query_params
        url = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        hits[url] += 1
        number = hits[url]
        if "delay" in query:
            await asyncio.sleep(float(query["delay"]))
        headers: dict[str, str] = {}
        for param, header in (("cc", "Cache-Control"), ("vary", "Vary"), ("etag", "ETag")):
            if param in query:
                headers[header] = query[param]
        if "age" in query:
            headers["Age"] = query["age"]
        if "cookie" in query:
            headers["Set-Cookie"] = "session=abc; Path=/"
        if "size" in query:
            size = int(query["size"])

            async def chunks() -> AsyncIterator[bytes]:
                for offset in range(0, size, len(BLOCK)):
                    yield BLOCK[: min(len(BLOCK), size - offset)]

            return StreamingResponse(
                chunks(), headers=headers, media_type="application/octet-stream"
            )
        body = {
            "url": url,
            "hit": number,
            "tenant_id": principal.tenant_id,
            "user_id": principal.user_id,
            "scopes": sorted(principal.scopes),
            "language": request.headers.get("accept-language"),
            "if_none_match": request.headers.get("if-none-match"),
        }
        return JSONResponse(body, status_code=int(query.get("status", 200)), headers=headers)

    app: FastAPI = create_service_app(
        ServiceSpec(OriginSettings(platform=platform), title="origin", routers=[router])
    )
    return app


def pattern_sha256(size: int) -> str:
    digest = hashlib.sha256()
    for offset in range(0, size, len(BLOCK)):
        digest.update(BLOCK[: min(len(BLOCK), size - offset)])
    return digest.hexdigest()


@asynccontextmanager
async def origin_serving(tmp_path: Path, redis_url: str | None) -> AsyncIterator[Origin]:
    platform = PlatformSettings(
        var_dir=tmp_path / f"origin-{uuid.uuid4().hex[:6]}",
        internal_token_secret=INTERNAL_SECRET,
        redis_url=redis_url,
    )
    hits: Counter[str] = Counter()
    app = origin_app(platform, hits)
    async with serving(app) as url:
        yield Origin(url, app, hits)


def upstreams_to(origin: Origin) -> dict[str, str]:
    nowhere = dead_url()
    return {
        info.name: origin.url if info.name == "billing" else nowhere
        for info in SERVICES
        if info.name != "gateway"
    }


@dataclass
class Caller:
    """Headers of one credential, with what it is."""

    headers: dict[str, str]
    tenant_id: str
    scopes: list[str]


@dataclass
class CachingGateway:
    url: str
    app: FastAPI
    settings: GatewaySettings

    def client(self, **kwargs: Any) -> httpx.AsyncClient:
        kwargs.setdefault("timeout", 30)
        return httpx.AsyncClient(base_url=self.url, trust_env=False, **kwargs)


@asynccontextmanager
async def gateway_serving(
    tmp_path: Path,
    origin: Origin,
    *,
    redis_url: str | None,
    redis_prefix: str,
    database_url: str | None = None,
    **overrides: Any,
) -> AsyncIterator[CachingGateway]:
    """The real gateway app (authentication, limits off, cache, proxy) on a loopback port.
    Replicas of one deployment share ``database_url`` and ``redis_prefix``."""
    var_dir = tmp_path / f"gateway-{uuid.uuid4().hex[:6]}"
    platform = PlatformSettings(
        var_dir=var_dir, internal_token_secret=INTERNAL_SECRET, redis_url=redis_url
    )
    values: dict[str, Any] = {
        "jwt_secret": JWT_SECRET,
        "password_time_cost": 1,
        "password_memory_kib": 1024,
        "password_parallelism": 1,
        "upstreams": upstreams_to(origin),
        # The cache is under test, not the limits: a burst of 200 must all get through.
        "rate_limits": {"enabled": False},
        "response_cache_redis_prefix": redis_prefix,
        "response_cache_redis_probe_seconds": 0.1,
        **UNTHROTTLED,
        **overrides,
    }
    settings = GatewaySettings(
        platform=platform,
        database_url=database_url or f"sqlite+aiosqlite:///{var_dir}/gateway.db",
        **values,
    )
    app = create_app(settings)
    async with serving(app) as url:
        async with httpx.AsyncClient(base_url=url, trust_env=False) as http:
            for _ in range(600):
                if (await http.get("/ready")).status_code == 200:
                    break
                await asyncio.sleep(0.05)
        yield CachingGateway(url, app, settings)


async def callers(gateway: CachingGateway) -> dict[str, Caller]:
    """Tenant A's owner (a user token), A's full key, A's read-only key, and B's full key."""
    async with gateway.client() as http:
        helper = Gateway(app=gateway.app, http=http, settings=gateway.settings)
        owner_a = await helper.signup(tenant_name="A")
        owner_b = await helper.signup(tenant_name="B")
        full_a = await helper.create_key(owner_a.headers, ["*"])
        narrow_a = await helper.create_key(owner_a.headers, ["credits:read"])
        full_b = await helper.create_key(owner_b.headers, ["*"])
    return {
        "user_a": Caller(owner_a.headers, owner_a.tenant_id, ["*"]),
        "a": Caller({"X-API-Key": full_a["key"]}, owner_a.tenant_id, ["*"]),
        "a_narrow": Caller({"X-API-Key": narrow_a["key"]}, owner_a.tenant_id, ["credits:read"]),
        "b": Caller({"X-API-Key": full_b["key"]}, owner_b.tenant_id, ["*"]),
    }


def unique(path: str = "r") -> str:
    return f"{PREFIX}/{path}/{uuid.uuid4().hex[:10]}"


def cache_status(response: httpx.Response) -> str:
    return str(response.headers.get("cache-status", ""))


def hit(response: httpx.Response) -> bool:
    return "; hit" in cache_status(response)


def results(responses: list[httpx.Response]) -> Iterator[str]:
    for response in responses:
        status = cache_status(response)
        if "; hit" in status:
            yield "hit"
        elif "collapsed=?0" in status:
            yield "released"
        elif "collapsed" in status:
            yield "collapsed"
        else:
            yield "miss"
