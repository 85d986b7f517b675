"""``GET /v1/status``: the readiness of every service as the gateway itself reaches it, through
its own routing table and connection pools and with an internal token for the caller, so a green
answer means the platform works from the front door, not just that processes are up."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from v100.kit.auth import Principal
from v100.kit.http import Authorized, Runtime, RuntimeDep
from v100.kit.observability import current_request_id
from v100.services.gateway.edge.deps import EdgeSettingsDep, UpstreamsDep
from v100.services.gateway.edge.proxy.upstreams import Upstream, Upstreams

TenantsRead = Annotated[Principal, Depends(Authorized("tenants:read"))]

__all__ = ["PlatformStatus", "ServiceStatus", "router"]

router = APIRouter(tags=["gateway"])
_MAX_READY_BODY = 64 * 1024


class ServiceStatus(BaseModel):
    name: str
    url: str
    status: Literal["ready", "not_ready", "down"]
    latency_ms: float | None = None
    checks: dict[str, str] = Field(default_factory=dict)
    detail: str | None = None
    # How the gateway treats the service's traffic (breaker.py, health.py); None for itself.
    breaker: Literal["closed", "open", "half_open"] | None = None
    healthy: bool | None = None  # by the active health checks; None until the first check
    in_flight: int | None = None


class PlatformStatus(BaseModel):
    status: Literal["ready", "degraded"]
    services: list[ServiceStatus]


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


async def _own_status(runtime: Runtime, wait_seconds: float) -> ServiceStatus:
    """The gateway answers for itself in-process: calling its own port would only add a hop."""
    settings = runtime.settings
    started = time.perf_counter()

    async def one(check: Any) -> str:
        try:
            await asyncio.wait_for(check(), timeout=wait_seconds)
        except Exception as exc:
            return f"down: {type(exc).__name__}: {exc}"[:200]
        return "ok"

    results = await asyncio.gather(*(one(check) for check in runtime.checks.values()))
    checks = dict(zip(runtime.checks, results, strict=True))
    return ServiceStatus(
        name=settings.service,
        url=f"http://{settings.host}:{settings.port}",
        status="ready" if all(r == "ok" for r in results) else "not_ready",
        latency_ms=_elapsed_ms(started),
        checks=checks,
    )


async def _probe(
    upstreams: Upstreams, upstream: Upstream, authorization: str, wait_seconds: float
) -> ServiceStatus:
    headers = {"Authorization": authorization}
    request_id = current_request_id.get()
    if request_id:
        headers["X-Request-Id"] = request_id
    started = time.perf_counter()
    url = f"{upstream.base_url}/ready"
    traffic: dict[str, Any] = {
        "breaker": upstream.breaker.state.value,
        "healthy": upstream.healthy,
        "in_flight": upstream.in_flight,
    }
    try:
        async with asyncio.timeout(wait_seconds):
            async with upstreams.client.stream("GET", url, headers=headers) as response:
                code = response.status_code
                read = bytearray()
                async for chunk in response.aiter_raw():
                    read += chunk
                    if len(read) >= _MAX_READY_BODY:
                        break
                body = bytes(read[:_MAX_READY_BODY])
    except Exception as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else f"{type(exc).__name__}: {exc}"
        return ServiceStatus(
            name=upstream.name,
            url=upstream.base_url,
            status="down",
            latency_ms=_elapsed_ms(started),
            detail=reason[:200],
            **traffic,
        )
    checks: dict[str, str] = {}
    try:
        parsed = orjson.loads(body)
        if isinstance(parsed, dict) and isinstance(parsed.get("checks"), dict):
            checks = {str(k): str(v) for k, v in parsed["checks"].items()}
    except orjson.JSONDecodeError:
        pass
    return ServiceStatus(
        name=upstream.name,
        url=upstream.base_url,
        status="ready" if code == 200 else "not_ready",
        latency_ms=_elapsed_ms(started),
        checks=checks,
        detail=None if code == 200 else f"/ready answered {code}",
        **traffic,
    )


@router.get("/v1/status")
async def platform_status(
    principal: TenantsRead, runtime: RuntimeDep, upstreams: UpstreamsDep, edge: EdgeSettingsDep
) -> PlatformStatus:
    """Readiness of every service, as reached through the gateway."""
    timeout = edge.status_timeout_seconds
    authorization = upstreams.bearer(runtime.tokens, principal)
    services = await asyncio.gather(
        _own_status(runtime, timeout),
        *(_probe(upstreams, upstream, authorization, timeout) for upstream in upstreams),
    )
    overall: Literal["ready", "degraded"] = (
        "ready" if all(s.status == "ready" for s in services) else "degraded"
    )
    return PlatformStatus(status=overall, services=list(services))
