"""Issue 17's "done means" for stream_proxy: the HLS of a processed video plays through
stream_proxy in Chromium with hls.js. A video made by FFmpeg (lavfi) is uploaded with tus
through the gateway with an API key and processed by video_processing; stream_proxy mints a
signed playback URL (through the gateway); a page on another loopback origin plays it with
hls.js (so CORS is the real one): the levels of the master playlist are seen, the picture has a
size, and the playhead moves.

Needs Debian's chromium and hls.js from npm: ``bash scripts/tools/browser.sh install``."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import Route

from v100.kit.settings import PlatformSettings
from v100.kit.testing.servers import serving
from v100.media.testing import make_video
from v100.services.billing.app import create_app as create_billing
from v100.services.billing.settings import BillingSettings
from v100.services.gateway.app import create_app as create_gateway
from v100.services.gateway.testing import INTERNAL_SECRET, PASSWORD, gateway_settings_for
from v100.services.stream_proxy.app import create_app as create_stream_proxy
from v100.services.stream_proxy.settings import StreamProxySettings
from v100.services.video_processing.app import create_app as create_video_processing
from v100.services.video_processing.settings import VideoProcessingSettings

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

CHROMIUM = os.environ.get("V100_TEST_CHROMIUM", "/usr/bin/chromium")
NODE_MODULES = Path(
    os.environ.get(
        "V100_TEST_NODE_MODULES",
        Path(__file__).resolve().parents[2] / ".cache" / "tools" / "node" / "node_modules",
    )
)
HLS_JS = NODE_MODULES / "hls.js" / "dist" / "hls.min.js"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--autoplay-policy=no-user-gesture-required",
]  # fmt: skip

PAGE = """<!doctype html>
<meta charset="utf-8">
<video id="v" muted playsinline></video>
<script src="/hls.min.js"></script>
<script>
window.state = {levels: null, error: null, supported: Hls.isSupported()};
window.play = function (src) {
  const video = document.getElementById("v");
  const hls = new Hls({enableWorker: false});
  hls.on(Hls.Events.MANIFEST_PARSED, (event, data) => {
    window.state.levels = data.levels.map((level) => [level.width, level.height]);
    video.play().catch((error) => { window.state.error = "play: " + error; });
  });
  hls.on(Hls.Events.ERROR, (event, data) => {
    if (data.fatal) { window.state.error = data.type + ": " + data.details; }
  });
  hls.loadSource(src);
  hls.attachMedia(video);
};
</script>
"""


@dataclass
class Stack:
    gateway: str
    api_key: str


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    """gateway -> video_processing, stream_proxy, billing: real uvicorn servers on loopback."""
    gateway_port = _free_port()
    platform = PlatformSettings(
        var_dir=tmp_path,
        internal_token_secret=INTERNAL_SECRET,
        database_url=f"sqlite+aiosqlite:///{tmp_path}/{{service}}.db",
        storage_url=f"file://{tmp_path}/objects",
        public_url=f"http://127.0.0.1:{gateway_port}",
    )
    async with serving(create_billing(BillingSettings(platform=platform)), ready=True) as billing:
        vp_settings = VideoProcessingSettings(
            platform=platform, billing_url=billing, hls_segment_seconds=1.0
        )
        async with serving(create_video_processing(vp_settings), ready=True) as video:
            sp_settings = StreamProxySettings(platform=platform, video_processing_url=video)
            async with serving(create_stream_proxy(sp_settings), ready=True) as streams:
                upstreams = {"video_processing": video, "billing": billing, "stream_proxy": streams}
                gateway_settings = gateway_settings_for(
                    f"sqlite+aiosqlite:///{tmp_path}/gateway.db", tmp_path, upstreams=upstreams
                )
                async with serving(
                    create_gateway(gateway_settings), port=gateway_port, ready=True
                ) as gateway:
                    yield Stack(gateway, await _api_key(gateway))


async def _api_key(gateway: str) -> str:
    async with httpx.AsyncClient(base_url=gateway, trust_env=False) as http:
        signup = await http.post(
            "/v1/auth/signup",
            json={"email": "hls@example.com", "password": PASSWORD, "tenant_name": "Streams"},
        )
        assert signup.status_code == 201, signup.text
        created = await http.post(
            "/v1/api-keys",
            headers={"Authorization": f"Bearer {signup.json()['access_token']}"},
            json={"name": "e2e", "scopes": ["*"]},
        )
        assert created.status_code == 201, created.text
        return str(created.json()["key"])


async def _ready_video(stack: Stack, source: Path) -> dict[str, Any]:
    """Uploaded with tus through the gateway, then waited for until processed."""
    data = await asyncio.to_thread(source.read_bytes)
    key = {"X-API-Key": stack.api_key}
    tus = {**key, "Tus-Resumable": "1.0.0"}
    async with httpx.AsyncClient(base_url=stack.gateway, trust_env=False, timeout=60) as http:
        created = await http.post("/v1/uploads", headers={**tus, "Upload-Length": str(len(data))})
        assert created.status_code == 201, created.text
        location = created.headers["Location"]
        patched = await http.patch(
            location, content=data,
            headers={**tus, "Upload-Offset": "0",
                     "Content-Type": "application/offset+octet-stream"},
        )  # fmt: skip
        assert patched.status_code == 204, patched.text
        upload_id = location.rstrip("/").rsplit("/", 1)[1]
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            listed = await http.get("/v1/videos", params={"upload_id": upload_id}, headers=key)
            if listed.status_code == 429:
                await asyncio.sleep(float(listed.headers.get("Retry-After", "1")))
                continue
            items = listed.json()["items"]
            if items and items[0]["status"] in ("ready", "errored"):
                assert items[0]["status"] == "ready", items[0]
                return dict(items[0])
            await asyncio.sleep(0.5)
    raise TimeoutError("the video was not processed in time")


async def test_a_processed_video_plays_through_stream_proxy_with_hls_js(
    stack: Stack, tmp_path: Path
) -> None:
    missing = [str(path) for path in (Path(CHROMIUM), HLS_JS) if not path.exists()]
    if missing:
        pytest.skip(f"{', '.join(missing)} missing: run `bash scripts/tools/browser.sh install`")
    from playwright.async_api import async_playwright

    source = make_video(tmp_path / "talk.mp4", seconds=6, width=640, height=360, fps=25)
    video = await _ready_video(stack, source)
    async with httpx.AsyncClient(base_url=stack.gateway, trust_env=False, timeout=30) as http:
        minted = await http.post(
            "/v1/streams/playback",
            json={"video_id": video["id"], "ttl_seconds": 900},
            headers={"X-API-Key": stack.api_key},
        )
        assert minted.status_code == 200, minted.text
        url = minted.json()["url"]
        assert url.startswith(f"{stack.gateway}/hls/")
        master = await http.get(url)  # no credential: the signed URL is enough
        assert master.status_code == 200, master.text
        rungs = master.text.count("#EXT-X-STREAM-INF")
        assert rungs >= 2, master.text

    async def page(_: Request) -> Response:
        return HTMLResponse(PAGE)

    async def script(_: Request) -> Response:
        return FileResponse(HLS_JS, media_type="text/javascript")

    site = Starlette(routes=[Route("/", page), Route("/hls.min.js", script)])
    async with serving(site, lifespan="off") as player, async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS
        )
        try:
            tab = await browser.new_page()
            await tab.goto(f"{player}/")  # another origin than the gateway's: real CORS
            assert await tab.evaluate("window.state.supported"), "no MediaSource in this Chromium"
            await tab.evaluate("(src) => play(src)", url)
            await tab.wait_for_function(
                "window.state.error !== null || document.getElementById('v').currentTime > 1.5",
                timeout=120_000,
            )
            state = await tab.evaluate(
                "({error: window.state.error, levels: window.state.levels,"
                " time: document.getElementById('v').currentTime,"
                " width: document.getElementById('v').videoWidth})"
            )
        finally:
            await browser.close()
    assert state["error"] is None, state
    assert state["time"] > 1.5
    assert state["width"] > 0
    assert len(state["levels"]) == rungs
    assert all(width > 0 and height > 0 for width, height in state["levels"])
