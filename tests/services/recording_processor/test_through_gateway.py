"""Through the gateway with an API key, as a customer would: create a recording, stream its
WebM in, follow its progress on the WebSocket the gateway relays, and find it ready."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import orjson
import pytest
import websockets

from v100.contracts.topology import SERVICES
from v100.kit.settings import PlatformSettings
from v100.kit.testing.servers import dead_url, serving
from v100.services.gateway.app import create_app as create_gateway
from v100.services.gateway.settings import GatewaySettings
from v100.services.gateway.testing import UNTHROTTLED
from v100.services.recording_processor.app import create_app
from v100.services.recording_processor.settings import RecordingProcessorSettings

from .support import INTERNAL_SECRET, chunked

pytestmark = pytest.mark.slow


@asynccontextmanager
async def gateway_in_front_of(recordings_url: str, var_dir: Path) -> AsyncIterator[tuple[str, str]]:
    """The real gateway routing /v1/recordings to ``recordings_url``; (its URL, an API key)."""
    nowhere = dead_url()
    upstreams = {i.name: nowhere for i in SERVICES if i.name != "gateway"}
    upstreams["recording_processor"] = recordings_url
    settings = GatewaySettings(
        platform=PlatformSettings(var_dir=var_dir, internal_token_secret=INTERNAL_SECRET),
        database_url=f"sqlite+aiosqlite:///{var_dir}/gateway.db",
        jwt_secret="gateway-jwt-secret-for-recording-tests-0123",
        password_time_cost=1,
        password_memory_kib=1024,
        password_parallelism=1,
        upstreams=upstreams,
        **UNTHROTTLED,
    )
    async with serving(create_gateway(settings)) as url, httpx.AsyncClient(base_url=url) as http:
        for _ in range(600):
            if (await http.get("/ready")).status_code == 200:
                break
            await asyncio.sleep(0.05)
        signup = await http.post(
            "/v1/auth/signup",
            json={
                "email": f"host-{uuid.uuid4().hex[:8]}@example.com",
                "password": "correct horse battery staple",
                "tenant_name": "Recordings",
            },
        )
        assert signup.status_code == 201, signup.text
        token = signup.json()["access_token"]
        key = await http.post(
            "/v1/api-keys",
            json={"name": "recorder", "scopes": ["*"]},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert key.status_code == 201, key.text
        yield url, key.json()["key"]


async def test_a_recording_through_the_gateway_with_live_progress(
    tmp_path: Path, webm: bytes
) -> None:
    platform = PlatformSettings(var_dir=tmp_path, internal_token_secret=INTERNAL_SECRET)
    settings = RecordingProcessorSettings(
        platform=platform, database_url=f"sqlite+aiosqlite:///{tmp_path}/recordings.db"
    )
    async with (
        serving(create_app(settings)) as service_url,
        gateway_in_front_of(service_url, tmp_path / "gateway") as (url, api_key),
        httpx.AsyncClient(base_url=url, timeout=60) as http,
    ):
        headers = {"X-API-Key": api_key}
        created = await http.post(
            "/v1/recordings",
            json={"title": "All hands"},
            headers={**headers, "Idempotency-Key": "all-hands"},
        )
        assert created.status_code == 201, created.text
        recording_id = created.json()["id"]
        ws_url = url.replace("http://", "ws://") + f"/v1/recordings/{recording_id}/progress"
        async with websockets.connect(ws_url, additional_headers=headers, proxy=None) as live:
            put = await http.put(
                f"/v1/recordings/{recording_id}/content",
                content=chunked(webm, 32 * 1024),
                headers={**headers, "Content-Type": "video/webm"},
            )
            assert put.status_code == 202, put.text
            messages = [orjson.loads(raw) async for raw in live]
            assert live.close_code == 1000
        assert messages[0]["status"] == "uploading"
        assert "transcoding" in [m["stage"] for m in messages]
        assert messages[-1]["status"] == "ready"
        body = (await http.get(f"/v1/recordings/{recording_id}", headers=headers)).json()
        assert body["status"] == "ready"
        assert {link["kind"] for link in body["downloads"]} == {"mp4", "thumbnail", "source"}
        # The signed links work through the gateway without a credential: the token is theirs.
        links = {link["kind"]: link["url"] for link in body["downloads"]}
        thumbnail = await http.get(links["thumbnail"])
        assert thumbnail.status_code == 200, thumbnail.text
        assert thumbnail.content[:3] == b"\xff\xd8\xff"  # a JPEG
        forged = await http.get(links["thumbnail"][:-4] + "AAAA")
        assert forged.status_code in (401, 403, 404)
