"""Helpers for stream_proxy's tests: the app in process with tenant headers, a real
video_processing beside it (on loopback: stream_proxy calls it by URL) that makes ready videos
from FFmpeg-made sources, and small origin servers for media routes."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from tests.services.video_processing.support import VideoApp
from tests.support.billed import tenant_principal
from v100.kit.testing.http import auth_headers
from v100.services.stream_proxy.settings import StreamProxySettings

INTERNAL_SECRET = "internal-secret-for-stream-proxy-tests-012345"


@dataclass
class StreamApp:
    app: FastAPI
    http: httpx.AsyncClient
    settings: StreamProxySettings

    def headers(self, tenant_id: str, **extra: str) -> dict[str, str]:
        return {**auth_headers(self.app, tenant_principal(tenant_id)), **extra}

    async def playback(self, tenant_id: str, video_id: str, **body: Any) -> httpx.Response:
        return await self.http.post(
            "/v1/streams/playback",
            json={"video_id": video_id, **body},
            headers=self.headers(tenant_id),
        )

    async def route(self, tenant_id: str, route_id: str) -> dict[str, Any]:
        answer = await self.http.get(
            f"/v1/streams/routes/{route_id}", headers=self.headers(tenant_id)
        )
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    async def wait_states(
        self, tenant_id: str, route_id: str, states: list[str], within: float = 30.0
    ) -> dict[str, Any]:
        """The route once its backends' states are ``states`` (in the route's order)."""
        deadline = asyncio.get_running_loop().time() + within
        while True:
            route = await self.route(tenant_id, route_id)
            if [b["state"] for b in route["backends"]] == states:
                return route
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"backends still {route['backends']}")
            await asyncio.sleep(0.1)


@dataclass
class Stack:
    sp: StreamApp
    vp: VideoApp

    async def ready_video(self, tenant: str, source: Any) -> dict[str, Any]:
        upload_id = await self.vp.tus_upload(tenant, source)
        video = await self.vp.wait(tenant, (await self.vp.video_of_upload(tenant, upload_id))["id"])
        assert video["status"] == "ready", video
        return video


def path_of(url: str) -> str:
    """The path of a URL stream_proxy handed out, to fetch through the ASGI client."""
    return httpx.URL(url).raw_path.decode()


def origin(name: str) -> Starlette:
    """A media origin: ``/health`` answers ok; any other path answers its own name, the path
    and the Range it was asked, so a test sees which backend served and what was forwarded."""

    async def health(request: Request) -> Response:
        return PlainTextResponse("ok")

    async def media(request: Request) -> Response:
        path = request.path_params["path"]
        body = f"{name} {path} range={request.headers.get('range')} q={request.url.query}"
        return Response(
            body.encode(),
            media_type="video/mp4",
            headers={"Cache-Control": "public, max-age=2", "ETag": f'"{name}"'},
        )

    return Starlette(
        routes=[
            Route("/health", health),
            Route("/live/{path:path}", media, methods=["GET", "HEAD"]),
        ]
    )
