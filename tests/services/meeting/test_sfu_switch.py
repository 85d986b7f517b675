"""A room past ``sfu_threshold`` participants goes through the real Janus (scripts/services/
janus.sh): its VideoRoom room is made and announced ``meeting.media.changed`` (sfu); it stays
on the SFU while people leave, until the room empties (no flapping), and ending the meeting
ends it. Without Janus, the room stays a mesh."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import orjson

from v100.contracts.events import MEETING_MEDIA_CHANGED, meeting_live_channel
from v100.contracts.sfu import sfu_room
from v100.kit.janus import Janus, VideoRooms
from v100.kit.testing.janus import JanusServer, janus_server

from .conftest import Deploy
from .support import INTERNAL_SECRET, Deployment

__all__ = ["janus_server"]


@contextlib.asynccontextmanager
async def media_events(service: Deployment, meeting_id: str) -> AsyncIterator[list[dict[str, Any]]]:
    """The meeting's ``meeting.media.changed`` events (data), as they come on its live channel."""
    seen: list[dict[str, Any]] = []
    subscription = service.app.state.runtime.bus.subscribe(meeting_live_channel(meeting_id))
    await subscription.open()

    async def read() -> None:
        async for payload in subscription:
            event = orjson.loads(payload)
            if event["type"] == MEETING_MEDIA_CHANGED:
                seen.append(event["data"])

    reading = asyncio.create_task(read())
    try:
        yield seen
    finally:
        reading.cancel()
        await subscription.close()


async def until(condition: Any, within: float = 10.0) -> None:
    """Poll ``condition`` until it holds (generous: the machine is shared)."""
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not within {within} s")
        await asyncio.sleep(0.1)


async def test_the_room_switches_past_the_threshold_and_back_once_empty(
    deploy: Deploy, janus_server: JanusServer
) -> None:
    janus = Janus(janus_server.url, janus_server.secret)
    rooms = VideoRooms(janus, janus_server.secret)
    try:
        async with _with_janus(deploy, janus_server) as service:
            assert service.settings.sfu_threshold == 4
            meeting = await service.create()
            room = sfu_room(INTERNAL_SECRET, service.tenant, meeting["id"], "main")
            async with media_events(service, meeting["id"]) as seen:
                tokens = [await service.joined(meeting["id"], f"P{i}") for i in range(4)]
                assert not await rooms.exists(room)  # 4: still a mesh
                tokens.append(await service.joined(meeting["id"], "P4"))
                assert await rooms.exists(room)  # the fifth: the SFU
                await until(lambda: len(seen) == 1)
                assert seen[0]["room"] == "main"
                assert seen[0]["media"] == "sfu"
                # Back under the threshold: still the SFU (no flapping)...
                for made in tokens[:4]:
                    response = await service.room(meeting["id"], made["token"], "leave")
                    assert response.status_code == 200
                assert await rooms.exists(room)
                # ... until the meeting ends.
                response = await service.http.post(
                    f"/v1/meetings/{meeting['id']}/end", headers=service.headers()
                )
                assert response.status_code == 200, response.text
                assert not await rooms.exists(room)
                await until(lambda: len(seen) == 2)
                assert seen[1]["media"] == "mesh"
    finally:
        await rooms.close()
        await janus.close()


@contextlib.asynccontextmanager
async def _with_janus(
    deploy: Deploy, janus_server: JanusServer, **settings: Any
) -> AsyncIterator[Deployment]:
    platform = {"janus_url": janus_server.url, "janus_secret": janus_server.secret}
    async with deploy(platform, **settings) as service:
        yield service


async def test_without_janus_a_large_room_stays_a_mesh(deploy: Deploy) -> None:
    async with deploy(sfu_threshold=1) as service:
        meeting = await service.create()
        async with media_events(service, meeting["id"]) as seen:
            for name in ("Ada", "Bob", "Cy"):
                await service.joined(meeting["id"], name)
            await asyncio.sleep(0.2)
            assert seen == []
