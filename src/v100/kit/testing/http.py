"""Running a service app in a test: its lifespan (database migrated, bus and storage open) and an
httpx client speaking ASGI to it, plus headers carrying an internal token for a principal."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from v100.kit.auth import InternalTokens, Principal
from v100.kit.http import Runtime

__all__ = ["auth_headers", "running_app"]


@asynccontextmanager
async def running_app(app: FastAPI, *, wait_ready: bool = True) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        runtime: Runtime = app.state.runtime
        if wait_ready and runtime.sessions is not None:
            await asyncio.wait_for(runtime.migrated.wait(), timeout=30)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            yield client


def auth_headers(app: FastAPI, principal: Principal) -> dict[str, str]:
    tokens: InternalTokens = app.state.runtime.tokens
    return {"Authorization": f"Bearer {tokens.mint(principal)}"}
