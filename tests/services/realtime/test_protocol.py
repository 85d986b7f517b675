"""The realtime protocol with websockets clients, embedded and on Redis: the join answer's
snapshot, state changes pushed to the room in order, idempotent join and leave, refused tokens
and malformed messages."""

from __future__ import annotations

import json
import uuid

import pytest
import websockets

from v100.contracts.meeting_tokens import MeetingGrants, MeetingTokens

from .conftest import Realtime
from .support import Client, mint, refused

pytestmark = pytest.mark.time_sensitive


async def test_room_state_is_pushed_in_order(realtime: Realtime) -> None:
    meeting = uuid.uuid4().hex
    async with realtime() as rooms:
        ada = await Client.join(rooms + meeting, mint(meeting, "ada"))
        assert ada.joined["resumed"] is False
        assert list(ada.participants) == ["ada"]
        assert ada.participants["ada"]["state"] == {
            "speaking": False, "hand_raised": False, "mic": False, "cam": False, "screen": False,
        }  # fmt: skip
        bob = await Client.join(rooms + meeting, mint(meeting, "bob"))
        assert set(bob.participants) == {"ada", "bob"}
        arrived = await ada.next("participant.joined")
        assert arrived["participant"]["name"] == "Bob"
        assert arrived["seq"] == bob.joined["seq"]

        await bob.send({"type": "state", "mic": True, "cam": True})
        await bob.send({"type": "state", "hand_raised": True, "mic": True})
        await bob.send({"type": "state", "mic": True})  # no change: nothing is sent
        await bob.send({"type": "state", "speaking": True})
        for client in (ada, bob):
            first = await client.next("participant.updated")
            assert first["participant_id"] == "bob"
            assert first["changes"] == {"mic": True, "cam": True}
            assert (await client.next())["changes"] == {"hand_raised": True}
            assert (await client.next())["changes"] == {"speaking": True}
        await ada.silent()

        # A second socket of the same participant joins nobody new.
        again = await Client.join(rooms + meeting, mint(meeting, "bob"))
        assert again.participants["bob"]["state"]["hand_raised"] is True
        await ada.silent()

        await bob.send({"type": "leave"})
        assert await bob.close_code() == (1000, "left")
        gone = await ada.next("participant.left")
        assert gone == {"seq": gone["seq"], "type": "participant.left",
                        "participant_id": "bob", "reason": "left"}  # fmt: skip
        await again.send({"type": "leave"})  # already gone: nothing more
        assert (await again.close_code())[0] == 1000
        await ada.silent()
        await ada.close()


async def test_rooms_do_not_mix(realtime: Realtime) -> None:
    meeting = uuid.uuid4().hex
    async with realtime() as rooms:
        ada = await Client.join(rooms + meeting, mint(meeting, "ada"))
        # Another tenant's meeting of the same id, and a breakout room of this one.
        eve = await Client.join(rooms + meeting, mint(meeting, "eve", tenant_id="tenant-b"))
        cat = await Client.join(rooms + meeting, mint(meeting, "cat", room="breakout-1"))
        assert list(eve.participants) == ["eve"]
        assert list(cat.participants) == ["cat"]
        assert cat.joined["room"] == "breakout-1"
        await eve.send({"type": "state", "mic": True})
        await cat.send({"type": "state", "mic": True})
        await ada.silent()
        for client in (ada, eve, cat):
            await client.close()


async def test_bad_tokens_and_messages(realtime: Realtime) -> None:
    meeting = uuid.uuid4().hex
    async with realtime(join_timeout_seconds=0.5) as rooms:
        url = rooms + meeting
        forged = mint(meeting, secret_tokens=MeetingTokens("another-secret-0123456789abcdef0123"))
        assert await refused(url, json.dumps({"type": "join", "token": forged})) == 4401
        expired = mint(meeting, expires_in=-5)
        assert await refused(url, json.dumps({"type": "join", "token": expired})) == 4401
        other = mint(uuid.uuid4().hex)
        assert await refused(url, json.dumps({"type": "join", "token": other})) == 4403
        no_join = mint(meeting, grants=MeetingGrants(join=False))
        assert await refused(url, json.dumps({"type": "join", "token": no_join})) == 4403
        assert await refused(url, json.dumps({"type": "state", "mic": True})) == 4400
        assert await refused(url, "not json") == 4400
        async with websockets.connect(url, proxy=None) as silent:  # no join at all
            with pytest.raises(websockets.ConnectionClosed):
                await silent.recv()
        assert silent.close_code == 4408

        ada = await Client.join(url, mint(meeting, "ada"))
        for sent, code in [
            ("not json", "malformed-message"),
            ('{"type": "dance"}', "unknown-type"),
            ('{"type": "state", "mic": "loud"}', "malformed-message"),
            ('{"type": "state", "volume": 3}', "malformed-message"),
            (json.dumps({"type": "join", "token": mint(meeting, "ada")}), "already-joined"),
            (json.dumps({"type": "state", "pad": "x" * 5000}), "message-too-large"),
        ]:
            await ada.socket.send(sent)
            assert (await ada.next("error"))["code"] == code, sent
        await ada.socket.send(b"binary")
        assert (await ada.next("error"))["code"] == "malformed-message"
        await ada.close()


async def test_a_flood_is_closed(realtime: Realtime) -> None:
    meeting = uuid.uuid4().hex
    async with realtime(rate_per_second=1, rate_burst=5) as rooms:
        ada = await Client.join(rooms + meeting, mint(meeting, "ada"))
        for i in range(10):
            await ada.send({"type": "state", "speaking": i % 2 == 0})
        assert (await ada.close_code())[0] == 4429
