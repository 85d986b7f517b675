"""The meeting recorder (page/recorder.js) in headless Chromium, against the real meeting and
recording_processor: a harness page imports it and records two fake-device camera streams for
about 8 s, the browser goes offline for 3 s mid-way (chunks wait in memory, then resume at the
server's offset), and the stopped recording becomes a ready MP4 (video and audio, the duration
recorded, a thumbnail) downloaded through its link. A second recording, stopped by a co-host
while the page still records it, is ended by the meeting at what was stored (and becomes an
MP4); the page's next chunk is 409 and the recorder fails with ``endedElsewhere``. docs/adr/0057.

The harness is served from recording_processor's own origin (the gateway's role: one origin for
the page and the upload URL), by a dispatcher in front of the app."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from v100.kit.settings import PlatformSettings
from v100.kit.testing.net import free_port
from v100.kit.testing.servers import serving
from v100.media import probe
from v100.services.recording_processor.app import create_app as recording_processor_app
from v100.services.recording_processor.settings import RecordingProcessorSettings

from .conftest import Deploy
from .support import INTERNAL_SECRET, bearer

# A browser, a recording, its transcode: minutes on a loaded machine (120 s by default).
pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(600),
    pytest.mark.parametrize("stack", ["embedded"], indirect=True),
]

CHROMIUM = os.environ.get("V100_TEST_CHROMIUM", "/usr/bin/chromium")
HAVE_CHROMIUM = Path(CHROMIUM).exists()
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
]  # fmt: skip
RECORDER_JS = (
    Path(__file__).resolve().parents[3] / "src/v100/services/meeting/page/recorder.js"
).read_bytes()
HARNESS = b"""<!doctype html>
<meta charset="utf-8">
<script type="module">
import {startRecording} from "/harness/recorder.js";
window.state = {progress: null, error: null, stopped: false};
window.record = async (recording) => {
  const wanted = {video: {width: 320, height: 240}, audio: true};
  const ada = await navigator.mediaDevices.getUserMedia(wanted);
  const bob = await navigator.mediaDevices.getUserMedia(wanted);
  const tiles = [{stream: ada, name: "Ada"}, {stream: bob, name: "Bob"}];
  const recorder = await startRecording({recording, token: null, streams: () => tiles,
                                         timeslice: 1000, width: 640, height: 360});
  recorder.onprogress = (p) => { window.state.progress = p; };
  recorder.onerror = (e) => { window.state.error = String(e); };
  window.recorder = recorder;
};
window.stopRecording = async () => {
  try {
    await window.recorder.stop();
  } catch (e) {
    window.state.stopError = {message: e.message, endedElsewhere: Boolean(e.endedElsewhere)};
  }
  window.state.stopped = true;
};
</script>
"""


class _WithHarness:
    """The harness page and recorder.js under /harness/, everything else to the app."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith("/harness/"):
            await self.app(scope, receive, send)
            return
        body, kind = (RECORDER_JS, b"text/javascript") if path.endswith(".js") else (
            HARNESS, b"text/html; charset=utf-8")  # fmt: skip
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", kind)]})  # fmt: skip
        await send({"type": "http.response.body", "body": body})


async def test_the_recorder_survives_a_network_drop_and_makes_a_downloadable_mp4(
    deploy: Deploy, tmp_path: Path
) -> None:
    if not HAVE_CHROMIUM:
        pytest.skip(f"{CHROMIUM} missing: run `bash scripts/tools/browser.sh install`")
    from playwright.async_api import async_playwright

    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    platform = PlatformSettings(
        var_dir=tmp_path / "rp", internal_token_secret=INTERNAL_SECRET, public_url=origin
    )
    settings = RecordingProcessorSettings(
        platform=platform, database_url=f"sqlite+aiosqlite:///{tmp_path}/rp.db"
    )
    app = recording_processor_app(settings)
    async with (
        serving(_WithHarness(app), ready=True, port=port),
        deploy(recording_processor_url=origin) as service,
    ):
        meeting = await service.create(title="Recorder test")
        host = await service.joined(meeting["id"], "Ada", role="host")
        cohost = await service.joined(meeting["id"], "Bob", role="co-host")
        started = await service.room(meeting["id"], host["token"], "recordings")
        assert started.status_code == 201, started.text
        recording = started.json()

        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=FLAGS
            )
            try:
                context = await browser.new_context()
                tab = await context.new_page()
                await tab.goto(f"{origin}/harness/index.html")
                await tab.wait_for_function("typeof window.record === 'function'")
                began = time.monotonic()
                await tab.evaluate("(r) => window.record(r)", recording)
                await asyncio.sleep(2.5)
                await context.set_offline(True)
                await asyncio.sleep(3.0)
                offline_state = await tab.evaluate("window.state.progress")
                await context.set_offline(False)
                await asyncio.sleep(max(0.0, 8.0 - (time.monotonic() - began)))
                await tab.evaluate("window.stopRecording()")
                recorded = time.monotonic() - began
                await tab.wait_for_function("window.state.stopped", timeout=60_000)
                state = await tab.evaluate("window.state")
                stopped = await service.room(
                    meeting["id"], host["token"], f"recordings/{recording['id']}/stop"
                )
                assert stopped.status_code == 200, stopped.text

                # A second recording, stopped by a co-host while this page still records it:
                # the meeting ends the upload at what was stored; the page's next chunk is 409
                # and the recorder fails with ``endedElsewhere``.
                second = await service.room(meeting["id"], host["token"], "recordings")
                assert second.status_code == 201, second.text
                await tab.evaluate(
                    "(r) => { window.state = {progress: null, error: null, stopped: false};"
                    " return window.record(r); }",
                    second.json(),
                )
                await tab.wait_for_function(
                    "window.state.progress && window.state.progress.uploaded > 0", timeout=60_000
                )
                elsewhere = await service.room(
                    meeting["id"], cohost["token"], f"recordings/{second.json()['id']}/stop"
                )
                assert elsewhere.status_code == 200, elsewhere.text
                await tab.wait_for_function("window.state.error !== null", timeout=60_000)
                await tab.evaluate("window.stopRecording()")
                ended_elsewhere = await tab.evaluate("window.state")
            finally:
                await browser.close()
        assert state["error"] is None, state
        # While offline, chunks were recorded but not acknowledged: they waited in memory.
        assert offline_state["buffered"] > 0, offline_state
        assert state["progress"]["uploaded"] == state["progress"]["recorded"] > 0

        assert "ended elsewhere" in ended_elsewhere["error"], ended_elsewhere
        assert ended_elsewhere["stopError"]["endedElsewhere"] is True, ended_elsewhere
        kept = await _until_ready(service, meeting["id"], host["token"], second.json()["id"])
        assert kept["media"]["duration"] > 0
        ready = await _until_ready(service, meeting["id"], host["token"], recording["id"])
        media = ready["media"]
        links = {link["kind"]: link for link in media["downloads"]}
        assert {"mp4", "thumbnail"} <= set(links)
        async with httpx.AsyncClient(base_url=origin, trust_env=False, timeout=30) as http:
            mp4 = await http.get(links["mp4"]["url"])
            thumbnail = await http.get(links["thumbnail"]["url"])
        assert mp4.status_code == 200
        assert thumbnail.status_code == 200
        assert thumbnail.content[:3] == b"\xff\xd8\xff"
        out = tmp_path / "recorded.mp4"
        out.write_bytes(mp4.content)
        info = await probe(out)
        assert info.video is not None
        assert info.audio is not None
        # MediaRecorder ran from start() to stop(): the MP4 lasts that long, the drop included.
        assert info.duration == pytest.approx(recorded, abs=1.5), (info.duration, recorded)


async def _until_ready(
    service: Any, meeting_id: str, token: str, recording_id: str, within: float = 180
) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        answer = await service.http.get(
            f"/v1/meetings/{meeting_id}/room/recordings/{recording_id}", headers=bearer(token)
        )
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        assert body["media"]["status"] != "errored", body
        if body["media"]["status"] == "ready":
            return body
        assert time.monotonic() < deadline, body
        await asyncio.sleep(0.5)
