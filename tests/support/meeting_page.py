"""The meeting page in headless Chromium (fake camera and microphone) through a real gateway in
front of the real meeting, meeting_signaling, realtime and recording_processor services
(embedded, one process: they share the in-process bus, as under ``v100 up``), and what the
page's media layer receives. Shared by the page's browser tests (tests/e2e/test_meeting_page.py,
test_meeting_sfu.py) and bench/meeting_media.py.

Needs Debian's chromium: ``bash scripts/tools/browser.sh install``."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.gateway import gateway_in_front_of_services
from v100.kit.settings import PlatformSettings
from v100.kit.testing.net import free_port
from v100.kit.testing.servers import serving
from v100.services.meeting.app import create_app as create_meeting
from v100.services.meeting.settings import MeetingSettings
from v100.services.meeting_signaling.app import create_app as create_signaling
from v100.services.meeting_signaling.settings import MeetingSignalingSettings
from v100.services.realtime.app import create_app as create_realtime
from v100.services.realtime.settings import RealtimeSettings
from v100.services.recording_processor.app import create_app as create_processor
from v100.services.recording_processor.settings import RecordingProcessorSettings

SECRET = "meeting-page-test-secret-0123456789abcdef"
CHROMIUM = os.environ.get("V100_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--auto-select-desktop-capture-source=Entire screen",
    "--autoplay-policy=no-user-gesture-required",
    # Host candidates as they are, not hidden behind mDNS names.
    "--disable-features=WebRtcHideLocalIpsWithMdns",
]
# The machine is shared and loaded: ICE, decoding and reconnects get generous time.
WAIT_MS = 90_000

# For tests with many pages on a loaded machine: the camera asked for at 160x120, 10 frames a
# second, whatever the page asks (the page itself is unchanged; this runs before it).
SMALL_VIDEO = """
(() => {
  const devices = navigator.mediaDevices;
  const original = devices.getUserMedia.bind(devices);
  const small = { width: { ideal: 160 }, height: { ideal: 120 }, frameRate: { ideal: 10 } };
  devices.getUserMedia = (constraints) =>
    original(constraints && constraints.video ? { ...constraints, video: small } : constraints);
})();
"""


def chromium_or_skip() -> None:
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.skip(f"{CHROMIUM} missing: run `bash scripts/tools/browser.sh install`")
    pytest.importorskip("playwright.async_api")


@asynccontextmanager
async def platform(
    var_dir: Path,
    *,
    janus_url: str | None = None,
    janus_secret: str | None = None,
    sfu_threshold: int | None = None,
) -> AsyncIterator[tuple[str, str]]:
    """meeting, meeting_signaling, realtime and recording_processor behind the gateway: (its
    URL, an API key). The gateway's address is recording_processor's public URL: the upload
    capabilities and the download links it hands out go through it. With ``janus_url`` rooms
    past ``sfu_threshold`` go through that Janus."""
    gateway_port = free_port()

    def base(name: str) -> dict[str, Any]:
        platform = PlatformSettings(
            var_dir=var_dir / name,
            internal_token_secret=SECRET,
            public_url=f"http://127.0.0.1:{gateway_port}",
            janus_url=janus_url,
            janus_secret=janus_secret,
        )
        return {"platform": platform, "database_url": f"sqlite+aiosqlite:///{var_dir}/{name}.db"}

    processor_settings = RecordingProcessorSettings(**base("recording_processor"))
    async with serving(create_processor(processor_settings), ready=True) as processor:
        settings = base("meeting")
        if sfu_threshold is not None:
            settings["sfu_threshold"] = sfu_threshold
        meeting_settings = MeetingSettings(**settings, recording_processor_url=processor)
        # Both room services ask this meeting service who may enter (ADR 0061).
        async with (
            serving(create_meeting(meeting_settings), ready=True) as meeting,
            _rooms(base, meeting, processor, gateway_port, var_dir) as rooms,
        ):
            yield rooms


@asynccontextmanager
async def _rooms(
    base: Any, meeting: str, processor: str, gateway_port: int, var_dir: Path
) -> AsyncIterator[tuple[str, str]]:
    async with (
        serving(
            create_signaling(MeetingSignalingSettings(**base("signaling"), meeting_url=meeting)),
            ready=True,
        ) as signaling,
        serving(
            create_realtime(RealtimeSettings(**base("realtime"), meeting_url=meeting)), ready=True
        ) as realtime,
        gateway_in_front_of_services(
            {
                "meeting": meeting,
                "meeting_signaling": signaling,
                "realtime": realtime,
                "recording_processor": processor,
            },
            var_dir / "gateway",
            internal_secret=SECRET,
            port=gateway_port,
        ) as (url, api_key),
    ):
        yield url, api_key


async def meeting_with_tokens(
    http: httpx.AsyncClient, names: list[str], *, title: str = "Standup"
) -> tuple[str, dict[str, dict[str, Any]]]:
    """A meeting and a token for each of ``names`` (the first one hosts)."""
    made = await http.post(
        "/v1/meetings", json={"title": title}, headers={"Idempotency-Key": f"m-{title}"}
    )
    assert made.status_code == 201, made.text
    meeting_id = made.json()["id"]
    tokens = {}
    for index, name in enumerate(names):
        minted = await http.post(
            f"/v1/meetings/{meeting_id}/tokens",
            json={"name": name, "role": "host" if index == 0 else "participant"},
            headers={"Idempotency-Key": f"t-{meeting_id}-{name}"},
        )
        assert minted.status_code == 201, minted.text
        tokens[name] = minted.json()
    return meeting_id, tokens


async def inbound(page: Any) -> list[dict[str, Any]]:
    stats: list[dict[str, Any]] = await page.evaluate("() => window.v100Meeting.inboundStats()")
    return stats


async def media_flows(page: Any, peers: int, *, within_ms: int = WAIT_MS) -> None:
    """Video frames decoded and audio bytes received grow from each of ``peers`` peers, whose
    audio carries energy."""
    deadline = time.monotonic() + within_ms / 1000
    last: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        before = {(s["peerId"], s["kind"]): s for s in await inbound(page)}
        await asyncio.sleep(1.5)
        last = await inbound(page)
        growing = {
            s["peerId"]
            for s in last
            if s["kind"] == "video"
            and s["framesDecoded"] > before.get((s["peerId"], "video"), {}).get("framesDecoded", 0)
        } & {
            s["peerId"]
            for s in last
            if s["kind"] == "audio"
            and s["bytesReceived"] > before.get((s["peerId"], "audio"), {}).get("bytesReceived", 0)
            # Decoded sound, not only packets: the fake microphone's beeps carry energy.
            and s["totalAudioEnergy"] > 0
        }
        if len(growing) >= peers:
            return
    raise AssertionError(f"media from {peers} peers did not flow: {last}")


async def open_page(
    browser: Any, url: str, meeting_id: str, token: str, *, small_video: bool = False
) -> Any:
    """The page in a context of its own (its own storage, as another person's browser), joined."""
    context = await browser.new_context()
    if small_video:
        await context.add_init_script(SMALL_VIDEO)
    page = await context.new_page()
    page.on("console", lambda m: print(f"[console {m.type}] {m.text}"))
    await page.goto(f"{url}/meet/{meeting_id}#token={token}")
    await page.get_by_role("button", name="Join").click(timeout=WAIT_MS)
    return page
