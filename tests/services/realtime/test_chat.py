"""Chat: a message reaches everyone in the sender's room (across replicas), numbered like the
room's other messages, so a reconnect with ``since`` gets what it missed; it stays in its room;
an empty or too long one is answered ``malformed-message`` and nothing is sent."""

from __future__ import annotations

import uuid

import pytest

from v100.services.realtime.protocol import CHAT_MAX_CHARS

from .conftest import Realtime
from .support import Client, mint

pytestmark = pytest.mark.time_sensitive


async def test_chat_reaches_the_room_and_a_reconnect(realtime: Realtime) -> None:
    meeting = uuid.uuid4().hex
    async with realtime() as first, realtime() as second:
        ada = await Client.join(first + meeting, mint(meeting, "ada"))
        bob = await Client.join(second + meeting, mint(meeting, "bob"))
        elsewhere = await Client.join(first + meeting, mint(meeting, "cat", room="breakout-1"))
        await ada.next("participant.joined")

        await bob.send({"type": "chat", "text": "hello, Ada"})
        for client in (ada, bob):
            said = await client.next("chat")
            assert (said["participant_id"], said["name"], said["text"]) == (
                "bob",
                "Bob",
                "hello, Ada",
            )
            assert said["time"].endswith("+00:00")
        await elsewhere.silent()

        seen = ada.last_seq
        await ada.drop()
        await bob.send({"type": "chat", "text": "are you there?"})
        await bob.next("chat")
        back = await Client.join(second + meeting, mint(meeting, "ada"), since=seen)
        assert back.joined["resumed"] is True
        missed = await back.next()
        assert (missed["type"], missed["text"], missed["seq"]) == (
            "chat",
            "are you there?",
            seen + 1,
        )

        for bad in ("", "x" * (CHAT_MAX_CHARS + 1)):
            await bob.send({"type": "chat", "text": bad})
            assert (await bob.next())["code"] == "malformed-message"
        await back.silent()
        for client in (back, bob, elsewhere):
            await client.close()
