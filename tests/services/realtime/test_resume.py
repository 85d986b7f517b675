"""A client that reconnects with ``since`` gets what it missed, in order, from the room's log,
or a snapshot once the log no longer holds it; across two replicas too."""

from __future__ import annotations

import uuid

import pytest

from .conftest import Realtime
from .support import Client, mint

pytestmark = pytest.mark.time_sensitive


async def test_reconnect_gets_what_it_missed(realtime: Realtime) -> None:
    meeting = uuid.uuid4().hex
    async with realtime() as first, realtime() as second:
        ada = await Client.join(first + meeting, mint(meeting, "ada"))
        bob = await Client.join(second + meeting, mint(meeting, "bob"))
        await ada.next("participant.joined")
        seen = ada.last_seq
        await ada.drop()
        for field in ("mic", "cam", "hand_raised"):
            await bob.send({"type": "state", field: True})
            await bob.next("participant.updated")

        back = await Client.join(second + meeting, mint(meeting, "ada"), since=seen)
        assert back.joined["resumed"] is True
        assert back.joined["seq"] == seen
        assert "participants" not in back.joined
        missed = [await back.next() for _ in range(3)]
        assert [m["changes"] for m in missed] == [
            {"mic": True},
            {"cam": True},
            {"hand_raised": True},
        ]
        assert [m["seq"] for m in missed] == [seen + 1, seen + 2, seen + 3]
        # Then live messages, from either replica.
        await bob.send({"type": "state", "screen": True})
        assert (await back.next())["seq"] == seen + 4
        await back.silent()
        for client in (back, bob):
            await client.close()


async def test_too_old_a_since_gets_a_snapshot(realtime: Realtime) -> None:
    meeting = uuid.uuid4().hex
    async with realtime(log_size=16) as rooms:
        ada = await Client.join(rooms + meeting, mint(meeting, "ada"))
        bob = await Client.join(rooms + meeting, mint(meeting, "bob"))
        seen = bob.joined["seq"]
        await ada.drop()
        for i in range(20):
            await bob.send({"type": "state", "speaking": i % 2 == 0})
        for _ in range(20):
            await bob.next("participant.updated")

        back = await Client.join(rooms + meeting, mint(meeting, "ada"), since=seen)
        assert back.joined["resumed"] is False
        assert back.joined["seq"] == seen + 20
        assert back.participants["bob"]["state"]["speaking"] is False
        # A since beyond the room's head (a log that was lost) is a snapshot too.
        ahead = await Client.join(rooms + meeting, mint(meeting, "cat"), since=10_000)
        assert ahead.joined["resumed"] is False
        assert set(ahead.participants) == {"ada", "bob", "cat"}
        for client in (back, bob, ahead):
            await client.close()
