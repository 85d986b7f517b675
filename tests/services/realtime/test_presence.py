"""Presence by heartbeat: a participant whose heartbeats stop (a crash, a lost network, a killed
replica) leaves the room once its allowance runs out; one that keeps beating stays. Short
settings stand in for the defaults (a heartbeat every 0.2 s, two missed)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from v100.services.realtime import store_memory

from .conftest import Realtime
from .support import Client, mint

pytestmark = pytest.mark.time_sensitive

FAST = {"heartbeat_interval_seconds": 0.2, "missed_heartbeats": 2, "sweep_interval_seconds": 0.1}


@contextlib.asynccontextmanager
async def beating(client: Client) -> AsyncIterator[None]:
    async def beat() -> None:
        while True:
            await client.send({"type": "heartbeat"})
            await asyncio.sleep(0.1)

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()


async def test_a_silent_participant_expires(realtime: Realtime) -> None:
    meeting = uuid.uuid4().hex
    async with realtime(**FAST) as rooms:
        ada = await Client.join(rooms + meeting, mint(meeting, "ada"))
        assert ada.joined["heartbeat_interval_ms"] == 200
        async with beating(ada):
            bob = await Client.join(rooms + meeting, mint(meeting, "bob"))
            await ada.next("participant.joined")
            await bob.drop()  # no leave, no close frame, no more heartbeats
            gone = await ada.next("participant.left", within=5)
            assert (gone["participant_id"], gone["reason"]) == ("bob", "expired")
            await ada.silent(within=1.0)  # ada, beating, stays
        # ada's heartbeats stop too while its socket stays open: it expires, and its next
        # heartbeat brings it back.
        again = await ada.next("participant.left", within=5)
        assert again["participant_id"] == "ada"
        await ada.send({"type": "heartbeat"})
        assert (await ada.next("participant.joined"))["participant"]["name"] == "Ada"
        await ada.close()


async def test_a_killed_replicas_participants_expire(realtime: Realtime) -> None:
    meeting = uuid.uuid4().hex
    async with realtime(**FAST) as first:
        ada = await Client.join(first + meeting, mint(meeting, "ada"))
        async with beating(ada):
            async with realtime(**FAST) as second:
                bob = await Client.join(second + meeting, mint(meeting, "bob"))
                assert (await ada.next("participant.joined"))["participant"]["name"] == "Bob"
            assert (await bob.close_code())[0] == 1012  # told to reconnect elsewhere
            gone = await ada.next("participant.left", within=5)
            assert (gone["participant_id"], gone["reason"]) == ("bob", "expired")
        await ada.close()


async def test_a_room_nobody_holds_is_swept_then_released(
    realtime: Realtime, platform: dict[str, Any]
) -> None:
    meeting = uuid.uuid4().hex
    async with realtime(**FAST) as rooms:
        ada = await Client.join(rooms + meeting, mint(meeting, "ada"))
        seen = ada.joined["seq"]
        await ada.drop()  # the replica's last socket of the room
        await asyncio.sleep(1.0)
        if not platform:  # embedded: the process's store forgot the room
            assert f"tenant-a/{meeting}/main" not in store_memory._PROCESS
            return
        # On Redis the room's log says ada expired.
        back = await Client.join(rooms + meeting, mint(meeting, "bob"), since=seen)
        gone = await back.next("participant.left")
        assert (gone["participant_id"], gone["reason"]) == ("ada", "expired")
        await back.close()
