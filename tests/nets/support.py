"""The whole platform on its embedded defaults, for the nets that walk every route: all 19
services served on loopback (SQLite, local disk, the in-process bus and queues) behind the real
gateway, whose merged OpenAPI document drives the nets. Rate limits are off: the nets send a few
hundred requests as one tenant."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from v100.contracts.topology import SERVICES, ServiceInfo
from v100.kit.auth import OPERATOR_TENANT_ID, Principal
from v100.kit.settings import PlatformSettings
from v100.kit.testing.http import auth_headers
from v100.kit.testing.servers import serving
from v100.services.gateway.edge.limits import RateLimitSettings
from v100.services.gateway.identity import admin
from v100.services.gateway.testing import (
    CHEAP_ARGON2,
    JWT_SECRET,
    PASSWORD,
    UNTHROTTLED,
    unique_email,
)

SECRET = "nets-internal-secret-0123456789abcdef-0123"
# What a platform service may put on its own calls for a tenant (never the operator's scopes).
SERVICE_SCOPES = frozenset(
    {
        "*",
        "service:credits",
        "service:usage",
        "service:videos",
        "service:rag",
        "service:transcripts",
        "service:recordings",
        "service:meetings",
    }
)


@dataclass
class Tenant:
    """A signed-up owner, with an access token for the gateway."""

    id: str
    user_id: str
    email: str
    headers: dict[str, str]


@dataclass
class Platform:
    gateway: httpx.AsyncClient
    apps: dict[str, FastAPI]
    urls: dict[str, str]
    operator: dict[str, str]
    tenants: list[Tenant] = field(default_factory=list)

    async def signup(self, name: str) -> Tenant:
        email = unique_email(name.split()[0].lower())
        body = {"email": email, "password": PASSWORD, "tenant_name": name}
        answer = await self.gateway.post("/v1/auth/signup", json=body)
        assert answer.status_code == 201, answer.text
        data = answer.json()
        tenant = Tenant(
            id=data["tenant"]["id"],
            user_id=data["user"]["id"],
            email=email,
            headers={"Authorization": f"Bearer {data['access_token']}"},
        )
        self.tenants.append(tenant)
        return tenant

    def service_headers(self, service: str, tenant_id: str) -> dict[str, str]:
        """An internal token as a platform service sends it to ``service`` for a tenant."""
        principal = Principal(tenant_id=tenant_id, scopes=SERVICE_SCOPES)
        return auth_headers(self.apps[service], principal)

    def operator_headers(self, service: str) -> dict[str, str]:
        principal = Principal(
            tenant_id=OPERATOR_TENANT_ID, scopes=frozenset({"operator:billing"}), role="operator"
        )
        return auth_headers(self.apps[service], principal)

    def direct(self, service: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.urls[service], trust_env=False, timeout=30)


def owner_of(path: str) -> ServiceInfo:
    """The service the gateway sends ``path`` to."""
    for info in SERVICES:
        if any(path == p or path.startswith(p.rstrip("/") + "/") for p in info.prefixes):
            return info
    raise LookupError(path)


@asynccontextmanager
async def embedded_platform(tmp_path: Path) -> AsyncIterator[Platform]:
    def settings_of(name: str, **values: Any) -> Any:
        module = importlib.import_module(f"v100.services.{name}.app")
        platform = PlatformSettings(
            var_dir=tmp_path / name, internal_token_secret=SECRET, run_schedules=False
        )
        return module, module.Settings(platform=platform, **values)

    async with AsyncExitStack() as stack:
        apps: dict[str, FastAPI] = {}
        urls: dict[str, str] = {}
        # rag_engine reads transcripts from transcription, so it starts after it; ai_orchestration
        # last: it names rag_engine and the platform_api tools' services.
        order = {"rag_engine": 1, "ai_orchestration": 2}
        for info in sorted(SERVICES, key=lambda info: order.get(info.name, 0)):
            if info.name == "gateway":
                continue
            # No webhook a fuzzed endpoint URL names may leave this machine.
            extra: dict[str, Any] = {}
            if info.name == "integration":
                extra = {"receivers_loopback_only": True}
            elif info.name in ("transcription", "video_analysis"):  # they read stored videos
                extra = {"video_processing_url": urls["video_processing"]}
            elif info.name == "stream_proxy":  # it serves stored videos; no route leaves here
                extra = {
                    "video_processing_url": urls["video_processing"],
                    "backends_loopback_only": True,
                }
            elif info.name == "rag_engine":
                extra = {"transcription_url": urls["transcription"]}
            elif info.name == "ai_orchestration":  # knowledge bases are rag_engine's
                extra = {
                    "rag_engine_url": urls["rag_engine"],
                    "platform_urls": {n: urls[n] for n in ("video_processing", "transcription")},
                }
            module, settings = settings_of(info.name, **extra)
            apps[info.name] = module.create_app(settings)
            # Made now, not when the gateway asks for it: all of them at once, on this one
            # loop of a loaded machine, outlast the gateway's fetch timeout.
            apps[info.name].openapi()
            urls[info.name] = await stack.enter_async_context(serving(apps[info.name], ready=True))
        module, settings = settings_of(
            "gateway",
            jwt_secret=JWT_SECRET,
            upstreams=urls,
            rate_limits=RateLimitSettings(enabled=False),
            **CHEAP_ARGON2,
            **UNTHROTTLED,
        )
        apps["gateway"] = module.create_app(settings)
        urls["gateway"] = await stack.enter_async_context(serving(apps["gateway"], ready=True))
        _, secret = await admin.create_operator_key(
            settings, name="nets", scopes=["operator:billing"]
        )
        gateway = await stack.enter_async_context(
            httpx.AsyncClient(base_url=urls["gateway"], trust_env=False, timeout=60)
        )
        yield Platform(gateway=gateway, apps=apps, urls=urls, operator={"X-API-Key": secret})
