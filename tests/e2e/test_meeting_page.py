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
import time
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pytest

from tests.support.meeting_page import (
    CHROMIUM,
    CHROMIUM_FLAGS,
    WAIT_MS,
    chromium_or_skip,
    media_flows,
    open_page,
    platform,
)
from v100.media import probe

# Generous: at load 10 to 20 the scenario alone takes minutes (it took 30 s at load 6).
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


# Every status the page shows for the recording after Stop, in order.
WATCH_RECORDING_STATUS = """() => {
  window.recordingStatuses = [];
  const box = document.getElementById("recording-status");
  new MutationObserver(() => {
    const status = box.dataset.status;
    if (status && window.recordingStatuses.at(-1) !== status) window.recordingStatuses.push(status);
  }).observe(box, {attributes: true, childList: true, subtree: true});
}"""


async def test_peers_meet_chat_break_out_and_are_admitted(tmp_path: Path) -> None:
    chromium_or_skip()
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
