"""Running a service app in a test: its lifespan (database migrated, bus and storage open) and an
httpx client speaking ASGI to it, plus headers carrying an internal token for a principal."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from v100.kit.auth import InternalTokens, Principal

__all__ = ["auth_headers", "running_app"]


@asynccontextmanager
async def running_app(app: FastAPI, *, wait_ready: bool = True) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            if wait_ready:
                await _until_ready(client)
            yield client


async def _until_ready(client: httpx.AsyncClient, within: float = 30.0) -> None:
    """Start-up steps (migrations, bucket set-up) run in the background: wait for /ready."""
    deadline = asyncio.get_running_loop().time() + within
    while (response := await client.get("/ready")).status_code != 200:
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"not ready after {within} s: {response.text}")
        await asyncio.sleep(0.05)


def auth_headers(app: FastAPI, principal: Principal) -> dict[str, str]:
    tokens: InternalTokens = app.state.runtime.tokens
    return {"Authorization": f"Bearer {tokens.mint(principal)}"}
