"""Through the real gateway with API keys, as a customer would: the tenant's stored video
analysed (``POST /v1/analyses``), followed until it completes, its scenes, faces and the active
speaker read, a keyframe image fetched through its presigned link with no credential, the
tenant's settings under /v1/video-analysis; a read-only key may read but not start one;
another tenant sees nothing. video_analysis and video_processing on loopback ports, on both
backends, with the session's real billing app."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.services.video_processing.support import VideoApp
from tests.support.billed import Backend
from v100.contracts.topology import SERVICES
from v100.kit.db import drop_database
from v100.kit.settings import PlatformSettings
from v100.kit.testing.db import fresh_postgres_url, postgres_admin_url
from v100.kit.testing.servers import dead_url, serving
from v100.services.gateway.app import create_app as create_gateway
from v100.services.gateway.settings import GatewaySettings
from v100.services.gateway.testing import CHEAP_ARGON2, JWT_SECRET, UNTHROTTLED, Gateway
from v100.services.video_analysis.app import create_app
from v100.services.video_analysis.settings import VideoAnalysisSettings
from v100.services.video_processing.app import create_app as create_video_processing
from v100.services.video_processing.settings import VideoProcessingSettings

from .support import INTERNAL_SECRET, INTRO_SECONDS, SETTLED, Talk

pytestmark = pytest.mark.slow


@asynccontextmanager
async def gateway_in_front_of(
    upstream: dict[str, str], var_dir: Path, port: int = 0
) -> AsyncIterator[Gateway]:
    """The real gateway routing to ``upstream`` (service -> URL; every other nowhere), on
    ``port`` when given (a public URL known before it starts)."""
    upstreams = {i.name: dead_url() for i in SERVICES if i.name != "gateway"} | upstream
    settings = GatewaySettings(
        platform=PlatformSettings(var_dir=var_dir, internal_token_secret=INTERNAL_SECRET),
        database_url=f"sqlite+aiosqlite:///{var_dir}/gateway.db",
        jwt_secret=JWT_SECRET, upstreams=upstreams, **CHEAP_ARGON2, **UNTHROTTLED,
    )  # fmt: skip
    app = create_gateway(settings)
    async with (
        serving(app, ready=True, port=port) as url,
        httpx.AsyncClient(base_url=url, timeout=60, trust_env=False) as http,
    ):
        yield Gateway(app=app, http=http, settings=settings)


async def _settled(http: httpx.AsyncClient, path: str, key: str) -> dict[str, Any]:
    for _ in range(600):  # once a second: the free tier allows 60 requests a minute
        answer = await http.get(path, headers={"X-API-Key": key})
        assert answer.status_code == 200, answer.text
        if answer.json()["status"] in SETTLED:
            return dict(answer.json())
        await asyncio.sleep(1.0)
    raise TimeoutError(f"{path} did not settle")


async def test_an_analysis_through_the_gateway_with_api_keys(
    backend: Backend, billing_url: str, talk: Talk, tmp_path: Path
) -> None:
    database_url = None
    if backend.name == "distributed":  # video_processing's own database
        admin = postgres_admin_url()
        assert admin is not None
        database_url = fresh_postgres_url(admin)
    vp_settings = VideoProcessingSettings(
        platform=backend.platform, billing_url=billing_url, database_url=database_url,
        public_base_url="http://service", hls_segment_seconds=1.0,
    )  # fmt: skip
    try:
        await _through_gateway(backend, billing_url, vp_settings, talk, tmp_path)
    finally:
        if database_url is not None:
            await drop_database(database_url)


async def _through_gateway(
    backend: Backend,
    billing_url: str,
    vp_settings: VideoProcessingSettings,
    talk: Talk,
    tmp_path: Path,
) -> None:
    vp_app = create_video_processing(vp_settings)
    (tmp_path / "gateway").mkdir()
    async with (
        serving(vp_app, ready=True) as vp_url,
        httpx.AsyncClient(base_url=vp_url, trust_env=False, timeout=30) as vp_http,
    ):
        settings = VideoAnalysisSettings(
            platform=backend.platform, billing_url=billing_url, video_processing_url=vp_url,
            transcription_url=dead_url(), workers=2,
        )  # fmt: skip
        async with (
            serving(create_app(settings), ready=True) as va_url,
            gateway_in_front_of(
                {"video_analysis": va_url, "video_processing": vp_url}, tmp_path / "gateway"
            ) as gateway,
        ):
            http = gateway.http
            owner = await gateway.signup(tenant_name="Analyses")
            writer = (await gateway.create_key(owner.headers, ["analyses:write"]))["key"]
            reader = (await gateway.create_key(owner.headers, ["analyses:read"]))["key"]
            vp = VideoApp(app=vp_app, http=vp_http, settings=vp_settings, billing=billing_url)
            upload_id = await vp.tus_upload(owner.tenant_id, talk.path)
            video = await vp.wait(owner.tenant_id, (await vp.video_of_upload(
                owner.tenant_id, upload_id))["id"])  # fmt: skip
            assert video["status"] == "ready", video

            changed = await http.put(
                "/v1/video-analysis/settings", json={"scene_threshold": 8},
                headers={"X-API-Key": writer},
            )  # fmt: skip
            assert changed.status_code == 200, changed.text
            created = await http.post(
                "/v1/analyses",
                json={"video_id": video["id"], "stages": ["keyframes", "speakers"]},
                headers={"X-API-Key": writer, "Idempotency-Key": "talk"},
            )
            assert created.status_code == 202, created.text
            assert created.json()["stages"] == [
                "scenes", "keyframes", "faces", "speech", "signals", "speakers",
            ]  # fmt: skip
            path = f"/v1/analyses/{created.json()['id']}"
            done = await _settled(http, path, reader)
            assert done["status"] == "completed", done
            assert done["scene_threshold"] == 8

            scenes = (await http.get(f"{path}/scenes", headers={"X-API-Key": reader})).json()
            assert [b["time"] for b in scenes["boundaries"]] == [INTRO_SECONDS]
            faces = (await http.get(f"{path}/faces", headers={"X-API-Key": reader})).json()
            assert len(faces["tracks"]) == 2, faces
            assert {turn["track_id"] for turn in faces["active_speaker"]} == {1, 2}
            keyframes = await http.get(f"{path}/keyframes", headers={"X-API-Key": reader})
            link = keyframes.json()["items"][0]["url"]
            if urlsplit(link).netloc:  # S3 signs its own links
                async with httpx.AsyncClient(trust_env=False) as anyone:
                    image = await anyone.get(link)
            else:  # local disk: through the gateway, the token is the credential
                image = await http.get(link)
            assert image.status_code == 200, image.text
            assert image.content[:3] == b"\xff\xd8\xff"

            refused = await http.post(
                "/v1/analyses", json={"video_id": video["id"]},
                headers={"X-API-Key": reader, "Idempotency-Key": "r"},
            )  # fmt: skip
            assert refused.status_code == 403, refused.text
            others = await gateway.signup(tenant_name="Others")
            other = (await gateway.create_key(others.headers, ["analyses:read"]))["key"]
            assert (await http.get(path, headers={"X-API-Key": other})).status_code == 404
            theirs = await http.get("/v1/analyses", headers={"X-API-Key": other})
            assert theirs.json()["items"] == []
