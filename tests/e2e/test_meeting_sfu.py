"""The meeting page on the SFU in headless Chromium: five people (a context each, small fake
video) join one meeting through the real gateway, meeting, meeting_signaling and realtime
services and the real Janus (scripts/services/janus.sh). Four meet as a mesh; the fifth takes the
room past ``sfu_threshold`` (4): the room moves to Janus's VideoRoom, the four switch live
(sfu.js takes over from the mesh, which closes once the SFU's media flows), and every page
decodes video and audio from every other page (getStats inbound-rtp per peer: frames decoded
and audio bytes growing). One page's signaling socket then drops: it resumes, publishes and
subscribes anew, and media flows both ways again."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.meeting_page import (
    CHROMIUM,
    CHROMIUM_FLAGS,
    WAIT_MS,
    chromium_or_skip,
    media_flows,
    meeting_with_tokens,
    open_page,
    platform,
)
from v100.kit.testing.janus import JanusServer, janus_server

__all__ = ["janus_server"]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

NAMES = ["Ada", "Bob", "Cy", "Dee", "Eve"]


async def mode(page: Any) -> str:
    """The page's media layer: "sfu" once the mesh it took over from is closed."""
    found: str = await page.evaluate(
        """() => {
          const media = window.v100Meeting.media;
          if (!media) return "none";
          if (media.mode !== "sfu") return "mesh";
          return media.previous ? "switching" : "sfu";
        }"""
    )
    return found


async def sfu_state(page: Any) -> dict[str, Any]:
    """What the page's SFU layer knows (for a failure's message)."""
    state: dict[str, Any] = await page.evaluate(
        """() => {
          const m = window.v100Meeting.media;
          if (!m || m.mode !== "sfu") return { mode: "mesh" };
          return {
            feed: m.feed, feeds: [...m.feeds.keys()], wanted: [...m.wanted],
            subscribed: [...m.subscribed], mids: Object.fromEntries(m.mids),
            peers: [...m.streams.keys()], states: m.connectionStates(),
            switching: Boolean(m.previous), generation: m.generation,
            videos: [...document.querySelectorAll(".tile.remote video")].map((v) => ({
              paused: v.paused, ready: v.readyState, muted: v.muted,
              tracks: v.srcObject && v.srcObject.getTracks().map((t) => [t.kind, t.readyState]),
            })),
          };
        }"""
    )
    return state


async def in_mode(page: Any, wanted: str) -> None:
    for _ in range(WAIT_MS // 500):
        if await mode(page) == wanted:
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"the page's media is not {wanted}: {await sfu_state(page)}")


async def receives_all(page: Any) -> None:
    """Media flows from the four others (what the SFU layer knows, when it does not)."""
    try:
        await media_flows(page, len(NAMES) - 1)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; {await sfu_state(page)}") from None


async def test_five_pages_switch_to_the_sfu_and_all_receive_all(
    tmp_path: Path, janus_server: JanusServer
) -> None:
    chromium_or_skip()
    from playwright.async_api import async_playwright

    async with (
        platform(
            tmp_path, janus_url=janus_server.url, janus_secret=janus_server.secret, sfu_threshold=4
        ) as (url, api_key),
        httpx.AsyncClient(base_url=url, timeout=60, headers={"X-API-Key": api_key}) as http,
        async_playwright() as playwright,
    ):
        meeting_id, tokens = await meeting_with_tokens(http, NAMES)
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_FLAGS, timeout=WAIT_MS
        )
        try:
            pages = []
            for name in NAMES[:4]:
                pages.append(
                    await open_page(
                        browser, url, meeting_id, tokens[name]["token"], small_video=True
                    )
                )
            # Four: a mesh, everyone receives the three others.
            for page in pages:
                await media_flows(page, 3)
                assert await mode(page) == "mesh"

            # The fifth takes the room past the threshold: all five end up on the SFU.
            pages.append(
                await open_page(
                    browser, url, meeting_id, tokens[NAMES[4]]["token"], small_video=True
                )
            )
            for page in pages:
                await in_mode(page, "sfu")
            for page in pages:
                await receives_all(page)

            # A dropped signaling socket: the page resumes, its old handles are gone on the
            # server, so it publishes and subscribes again; media flows both ways again.
            dropped = pages[1]
            await dropped.evaluate("() => window.v100Meeting.signaling.socket.close()")
            await dropped.wait_for_function(
                "() => window.v100Meeting.media.generation >= 1", timeout=WAIT_MS
            )
            # Its new subscriber receives everyone: by then its old feed is gone, so what the
            # others receive from it is its new feed.
            await receives_all(dropped)
            for page in pages:
                await receives_all(page)
            assert await mode(dropped) == "sfu"
        finally:
            await browser.close()
