"""The meeting page in headless Chromium with fake camera and microphone, through a real gateway
in front of the real meeting, meeting_signaling, realtime and recording_processor services
(embedded): two peers join and exchange audio and video (getStats: frames decoded and audio
bytes growing on both sides), see each other in the participant list, chat, raise a hand, share
a screen; the host records them from the page for a few seconds, stops, follows the recording
to ready on the page and its MP4 is downloaded through the gateway (video and audio, as long as
what was recorded); one is moved to a breakout room and back (media re-established); a third
knocks at the waiting room, the host admits it from the page, and all three exchange media.

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
from urllib.parse import urljoin

import httpx
import pytest

from tests.support.gateway import gateway_in_front_of_services
from v100.kit.settings import PlatformSettings
from v100.kit.testing.net import free_port
from v100.kit.testing.servers import serving
from v100.media import probe
from v100.services.meeting.app import create_app as create_meeting
from v100.services.meeting.settings import MeetingSettings
from v100.services.meeting_signaling.app import create_app as create_signaling
from v100.services.meeting_signaling.settings import MeetingSignalingSettings
from v100.services.realtime.app import create_app as create_realtime
from v100.services.realtime.settings import RealtimeSettings
from v100.services.recording_processor.app import create_app as create_processor
from v100.services.recording_processor.settings import RecordingProcessorSettings

# Generous: at load 10 to 20 the scenario alone takes minutes (it took 30 s at load 6).
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

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
    # Host candidates on loopback as they are, not hidden behind mDNS names.
    "--disable-features=WebRtcHideLocalIpsWithMdns",
]
# The machine is shared and loaded: ICE, decoding and reconnects get generous time.
WAIT_MS = 90_000


# Every status the page shows for the recording after Stop, in order.
WATCH_RECORDING_STATUS = """() => {
  window.recordingStatuses = [];
  const box = document.getElementById("recording-status");
  new MutationObserver(() => {
    const status = box.dataset.status;
    if (status && window.recordingStatuses.at(-1) !== status) window.recordingStatuses.push(status);
  }).observe(box, {attributes: true, childList: true, subtree: true});
}"""


def _chromium_or_skip() -> None:
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.skip(f"{CHROMIUM} missing: run `bash scripts/tools/browser.sh install`")
    pytest.importorskip("playwright.async_api")


@asynccontextmanager
async def platform(var_dir: Path) -> AsyncIterator[tuple[str, str]]:
    """meeting, meeting_signaling, realtime and recording_processor (one process: they share
    the in-process bus, as under ``v100 up``) behind the gateway: (its URL, an API key). The
    gateway's address is recording_processor's public URL: the upload capabilities and the
    download links it hands out go through it."""
    gateway_port = free_port()

    def base(name: str) -> dict[str, Any]:
        platform = PlatformSettings(
            var_dir=var_dir / name,
            internal_token_secret=SECRET,
            public_url=f"http://127.0.0.1:{gateway_port}",
        )
        return {"platform": platform, "database_url": f"sqlite+aiosqlite:///{var_dir}/{name}.db"}

    processor_settings = RecordingProcessorSettings(**base("recording_processor"))
    async with serving(create_processor(processor_settings), ready=True) as processor:
        meeting_settings = MeetingSettings(**base("meeting"), recording_processor_url=processor)
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


async def _inbound(page: Any) -> list[dict[str, Any]]:
    stats: list[dict[str, Any]] = await page.evaluate("() => window.v100Meeting.inboundStats()")
    return stats


async def media_flows(page: Any, peers: int) -> None:
    """Video frames decoded and audio bytes received grow from each of ``peers`` peers, whose
    audio carries energy."""
    deadline = time.monotonic() + WAIT_MS / 1000
    last: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        before = {(s["peerId"], s["kind"]): s for s in await _inbound(page)}
        await asyncio.sleep(1.5)
        last = await _inbound(page)
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


async def open_page(browser: Any, url: str, meeting_id: str, token: str) -> Any:
    context = await browser.new_context()
    page = await context.new_page()
    page.on("console", lambda m: print(f"[console {m.type}] {m.text}"))
    await page.goto(f"{url}/meet/{meeting_id}#token={token}")
    await page.get_by_role("button", name="Join").click(timeout=WAIT_MS)
    return page


async def test_peers_meet_chat_break_out_and_are_admitted(tmp_path: Path) -> None:
    _chromium_or_skip()
    from playwright.async_api import async_playwright, expect

    async with (
        platform(tmp_path) as (url, api_key),
        httpx.AsyncClient(base_url=url, timeout=60, headers={"X-API-Key": api_key}) as http,
        async_playwright() as playwright,
    ):
        made = await http.post(
            "/v1/meetings", json={"title": "Standup"}, headers={"Idempotency-Key": "m"}
        )
        assert made.status_code == 201, made.text
        meeting_id = made.json()["id"]
        tokens = {}
        for name, role in (("Ada", "host"), ("Bob", "participant"), ("Cy", "participant")):
            minted = await http.post(
                f"/v1/meetings/{meeting_id}/tokens",
                json={"name": name, "role": role},
                headers={"Idempotency-Key": f"t-{name}"},
            )
            assert minted.status_code == 201, minted.text
            tokens[name] = minted.json()
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_FLAGS, timeout=WAIT_MS
        )
        try:
            ada = await open_page(browser, url, meeting_id, tokens["Ada"]["token"])
            bob = await open_page(browser, url, meeting_id, tokens["Bob"]["token"])
            # The token left the address bar (it stays in the tab's session storage).
            assert "token" not in bob.url

            # Two peers: audio and video both ways, each in the other's list.
            await media_flows(ada, 1)
            await media_flows(bob, 1)
            for page in (ada, bob):
                people = page.locator("#people")
                await expect(people).to_contain_text("Ada", timeout=WAIT_MS)
                await expect(people).to_contain_text("Bob", timeout=WAIT_MS)
                await expect(page.locator("#network")).to_have_text("connected")

            # Chat and a raised hand reach the other side.
            await bob.get_by_label("Message").fill("hello from Bob")
            await bob.get_by_role("button", name="Send").click()
            await expect(ada.locator("#chat-log")).to_contain_text(
                "hello from Bob", timeout=WAIT_MS
            )
            await bob.get_by_role("button", name="Raise hand").click()
            bob_id = tokens["Bob"]["participant_id"]
            raised = ada.locator(f'#people li[data-participant="{bob_id}"][data-hand="true"]')
            await expect(raised).to_be_visible(timeout=WAIT_MS)

            # Screen share: Ada's video sender carries the screen; Bob still decodes it.
            await ada.get_by_role("button", name="Share screen").click()
            await expect(ada.locator("#screen")).to_have_attribute(
                "aria-pressed", "true", timeout=WAIT_MS
            )
            ada_id = tokens["Ada"]["participant_id"]
            sharing = bob.locator(f'#people li[data-participant="{ada_id}"]')
            await expect(sharing).to_contain_text("sharing screen", timeout=WAIT_MS)
            await media_flows(bob, 1)
            await ada.get_by_role("button", name="Stop sharing").click()
            await expect(sharing).not_to_contain_text("sharing screen", timeout=WAIT_MS)

            # Recording: the host's page records both peers for a few seconds (its chunks go
            # to recording_processor through the gateway), stops, follows the media to ready
            # and links the MP4; everyone sees the badge.
            await ada.evaluate(WATCH_RECORDING_STATUS)
            await ada.get_by_role("button", name="Record").click()
            started = time.monotonic()
            await expect(bob.locator("#recording-badge")).to_be_visible(timeout=WAIT_MS)
            listed = await http.get(f"/v1/meetings/{meeting_id}/recordings")
            [item] = listed.json()["items"]
            assert (item["status"], item["media"]["status"]) == ("recording", "uploading")
            await asyncio.sleep(7)
            await ada.get_by_role("button", name="Stop recording").click()
            recorded = time.monotonic() - started
            await expect(bob.locator("#recording-badge")).to_be_hidden(timeout=WAIT_MS)
            status = ada.locator("#recording-status")
            settled = ada.locator(
                '#recording-status[data-status="ready"], #recording-status[data-status="errored"]'
            )
            await expect(settled).to_be_visible(timeout=4 * WAIT_MS)
            notice = await ada.locator("#notice").inner_text()
            assert await status.get_attribute("data-status") == "ready", (
                await status.inner_text(),
                notice,
            )
            download = ada.locator("#recording-download")
            seen = await ada.evaluate("() => window.recordingStatuses")
            assert seen[-1] == "ready", seen
            assert {"uploading", "processing"} & set(seen), seen
            listed = await http.get(f"/v1/meetings/{meeting_id}/recordings")
            [item] = listed.json()["items"]
            assert (item["status"], item["media"]["status"]) == ("stopped", "ready")
            link = await download.get_attribute("href")
            assert link is not None
            # The local store's presigned link, on the page's origin: the gateway.
            link = urljoin(f"{url}/", link)
            assert link.startswith(f"{url}/v1/recordings/files/")
            # A presigned link: no credential of ours goes with it.
            async with httpx.AsyncClient(trust_env=False, timeout=60) as anyone:
                mp4 = await anyone.get(link)
            assert mp4.status_code == 200, mp4.text[:200]
            (tmp_path / "recording.mp4").write_bytes(mp4.content)
            info = await probe(tmp_path / "recording.mp4")
            assert info.video is not None
            assert info.audio is not None
            print(f"recorded {recorded:.1f} s between Record and Stop; MP4 {info.duration:.1f} s")
            # The recorder starts after the click's round trips and ends with the last chunk.
            assert recorded - 4 <= info.duration <= recorded + 1, (info.duration, recorded)

            # Bob to a breakout room: his page reconnects there; back, media again.
            await ada.get_by_label("New room").fill("Room 1")
            await ada.get_by_role("button", name="Open", exact=True).click()
            await ada.get_by_label("Room for Bob").select_option(label="Room 1", timeout=WAIT_MS)
            await ada.get_by_role("button", name="Move Bob").click()
            await expect(bob.locator("#room-name")).to_have_text("Breakout room", timeout=WAIT_MS)
            await expect(bob.locator(".tile.remote")).to_have_count(0, timeout=WAIT_MS)
            await expect(ada.locator(".tile.remote")).to_have_count(0, timeout=WAIT_MS)
            await expect(ada.locator("#people")).not_to_contain_text("Bob", timeout=WAIT_MS)
            await expect(bob.locator("#people")).not_to_contain_text("Ada", timeout=WAIT_MS)
            await ada.get_by_role("button", name="Close all rooms").click()
            await expect(bob.locator("#room-name")).to_have_text("", timeout=WAIT_MS)
            await media_flows(ada, 1)
            await media_flows(bob, 1)

            # The waiting room: Cy knocks, the host admits Cy from the page; three peers.
            changed = await http.patch(f"/v1/meetings/{meeting_id}", json={"waiting_room": True})
            assert changed.status_code == 200, changed.text
            cy = await open_page(browser, url, meeting_id, tokens["Cy"]["token"])
            await expect(cy.locator("#waiting")).to_be_visible(timeout=WAIT_MS)
            await ada.get_by_role("button", name="Admit Cy").click(timeout=WAIT_MS)
            await expect(cy.locator("#room")).to_be_visible(timeout=WAIT_MS)
            await media_flows(cy, 2)
            await media_flows(ada, 2)
            await expect(cy.locator("#people")).to_contain_text("Bob", timeout=WAIT_MS)
        finally:
            await browser.close()
