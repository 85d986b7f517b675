"""Through the gateway with an API key, as a customer would: create a recording, stream its
WebM in, follow its progress on the WebSocket the gateway relays, and find it ready."""

from __future__ import annotations

from pathlib import Path

import httpx
import orjson
import pytest
import websockets

from tests.support.gateway import gateway_in_front_of
from v100.kit.settings import PlatformSettings
from v100.kit.testing.servers import serving
from v100.services.recording_processor.app import create_app
from v100.services.recording_processor.settings import RecordingProcessorSettings

from .support import INTERNAL_SECRET, chunked

pytestmark = pytest.mark.slow


async def test_a_recording_through_the_gateway_with_live_progress(
    tmp_path: Path, webm: bytes
) -> None:
    platform = PlatformSettings(var_dir=tmp_path, internal_token_secret=INTERNAL_SECRET)
    settings = RecordingProcessorSettings(
        platform=platform, database_url=f"sqlite+aiosqlite:///{tmp_path}/recordings.db"
    )
    async with (
        serving(create_app(settings)) as service_url,
        gateway_in_front_of(
            "recording_processor",
            service_url,
            tmp_path / "gateway",
            internal_secret=INTERNAL_SECRET,
        ) as (url, api_key),  # fmt: skip
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
