"""Bad input: forged, expired and other-meeting tokens refused with their close codes; a first
message that is no join, or none at all; malformed JSON, SDP and candidates answered with an
error and the socket kept; oversized messages; a candidate flood closed 4429; a full room; and
nothing crossing rooms or tenants."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
import websockets

from v100.contracts.meeting_tokens import MeetingGrants, MeetingTokens

from .conftest import Signaling
from .support import CANDIDATE, SDP, Peer, mint

pytestmark = pytest.mark.time_sensitive


async def _refused(url: str, first: str | bytes | None) -> tuple[int, str]:
    async with websockets.connect(url, proxy=None) as socket:
        if first is not None:
            await socket.send(first)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            async with asyncio.timeout(10):
                await socket.recv()
    received = closed.value.rcvd
    assert received is not None
    return received.code, received.reason


def _join(token: str) -> str:
    return json.dumps({"type": "join", "token": token})


async def test_tokens_that_do_not_open_the_room(signaling: Signaling) -> None:
    meeting = uuid.uuid4().hex
    async with signaling(join_timeout_seconds=0.5) as rooms:
        url = rooms + meeting
        elsewhere = MeetingTokens("another-installation-secret-0123456789")
        forged = mint(meeting, secret_tokens=elsewhere)
        assert await _refused(url, _join(forged)) == (4401, "The meeting token is not valid.")
        expired = mint(meeting, expires_in=-5)
        assert await _refused(url, _join(expired)) == (4401, "The meeting token has expired.")
        assert (await _refused(url, _join("not.a.jwt")))[0] == 4401
        other = mint(uuid.uuid4().hex)
        assert (await _refused(url, _join(other)))[0] == 4403
        no_join = mint(meeting, grants=MeetingGrants(join=False))
        assert await _refused(url, _join(no_join)) == (4403, "The meeting token grants no join.")
        assert (await _refused(url, json.dumps({"type": "ping"})))[0] == 4400
        assert (await _refused(url, "{not json"))[0] == 4400
        assert (await _refused(url, b"\x00binary"))[0] == 4400
        assert await _refused(url, None) == (4408, "join timeout")


async def test_malformed_messages_are_answered_not_fatal(signaling: Signaling) -> None:
    meeting = uuid.uuid4().hex
    async with signaling(max_message_bytes=4096) as rooms:
        url = rooms + meeting
        ada = await Peer.join(url, mint(meeting))
        bob = await Peer.join(url, mint(meeting))
        to = bob.session_id
        cases = [
            ("{oops", "malformed-message"),
            (json.dumps({"type": "shout"}), "unknown-type"),
            (json.dumps({"type": "offer", "to": to}), "invalid-sdp"),
            (json.dumps({"type": "offer", "to": to, "sdp": "hello"}), "invalid-sdp"),
            (json.dumps({"type": "offer", "to": to, "sdp": "v=0\r\no=- 1 1 IN IP4 x\r\n"}),
             "invalid-sdp"),
            (json.dumps({"type": "candidate", "to": to, "candidate": {"candidate": "rm -rf"}}),
             "invalid-candidate"),
            (json.dumps({"type": "candidate", "to": to,
                         "candidate": {**CANDIDATE, "sdpMLineIndex": -1}}), "invalid-candidate"),
            (json.dumps({"type": "offer", "to": to, "sdp": SDP, "extra": 1}),
             "malformed-message"),
            (json.dumps({"type": "offer", "to": to, "sdp": SDP + "a=x" * 2000}),
             "message-too-large"),
            (json.dumps({"type": "join", "token": "again"}), "already-joined"),
        ]  # fmt: skip
        for text, code in cases:
            await ada.socket.send(text)
            error = await ada.next("error")
            assert error["code"] == code, (text[:80], error)
            assert error["detail"]
        await ada.socket.send(b"\x01\x02")
        assert (await ada.next("error"))["code"] == "malformed-message"
        # Nothing reached Bob, and Ada's socket still relays.
        await ada.send({"type": "offer", "to": to, "sdp": SDP})
        assert (await bob.next())["type"] == "offer"
        for peer in (ada, bob):
            await peer.close()


async def test_a_candidate_flood_is_closed(signaling: Signaling) -> None:
    meeting = uuid.uuid4().hex
    async with signaling(rate_per_second=1, rate_burst=40) as rooms:
        url = rooms + meeting
        ada = await Peer.join(url, mint(meeting))
        bob = await Peer.join(url, mint(meeting))
        flood = {"type": "candidate", "to": bob.session_id, "candidate": CANDIDATE}
        for _ in range(200):
            try:
                await ada.send(flood)
            except websockets.ConnectionClosed:
                break
        assert await ada.close_code() == (4429, "rate limited")
        kinds = []
        while True:
            try:
                kinds.append((await bob.next(within=1.0))["type"])
            except TimeoutError:
                break
        # Bob got the burst, not the flood, and is told Ada's socket dropped.
        assert 38 <= kinds.count("candidate") <= 45
        assert kinds[-1] == "peer.disconnected"
        await bob.close()


async def test_a_full_room(signaling: Signaling) -> None:
    meeting = uuid.uuid4().hex
    async with signaling(max_peers=2) as rooms:
        url = rooms + meeting
        peers = [await Peer.join(url, mint(meeting)) for _ in range(2)]
        assert await _refused(url, _join(mint(meeting))) == (4413, "The room is full.")
        for peer in peers:
            await peer.close()


async def test_nothing_crosses_rooms_or_tenants(signaling: Signaling) -> None:
    meeting = uuid.uuid4().hex
    async with signaling() as rooms:
        url = rooms + meeting
        ada = await Peer.join(url, mint(meeting, tenant_id="tenant-a"))
        # The same meeting id under another tenant, and a breakout room of the same meeting,
        # are other rooms: neither sees Ada, nor can reach her.
        eve = await Peer.join(url, mint(meeting, tenant_id="tenant-b"))
        breakout = await Peer.join(url, mint(meeting, tenant_id="tenant-a", room="breakout-1"))
        assert eve.joined["peers"] == []
        assert breakout.joined["peers"] == []
        for outsider in (eve, breakout):
            await outsider.send({"type": "offer", "to": ada.session_id, "sdp": SDP})
            assert (await outsider.next("error"))["code"] == "peer-not-found"
            # Not even a resume under her session id: it is a new join.
            again = await Peer.join(url, outsider_token := mint(meeting, tenant_id="tenant-b"),
                                    session_id=ada.session_id)  # fmt: skip
            assert again.joined["resumed"] is False
            assert again.session_id != ada.session_id
            assert outsider_token
            await again.close()
        await ada.silent(0.5)
        for peer in (ada, eve, breakout):
            await peer.close()
