"""The protocol between two and three peers of one room: the join answer (session, peers, the
polite side of each pair, ICE servers), offer/answer/candidates relayed to the named peer only,
end-of-candidates, ICE restart, ping/pong with RTT, and leave."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid

import pytest

from .conftest import Signaling
from .support import CANDIDATE, SDP, Peer, mint

pytestmark = pytest.mark.time_sensitive


async def test_two_peers_negotiate_through_the_room(signaling: Signaling) -> None:
    meeting = uuid.uuid4().hex
    async with signaling() as rooms:
        url = rooms + meeting
        ada = await Peer.join(url, mint(meeting, "ada"))
        assert ada.joined["peers"] == []
        assert ada.joined["resumed"] is False
        assert ada.joined["participant"]["participant_id"] == "ada"
        assert ada.joined["room"] == "main"
        bob = await Peer.join(url, mint(meeting, "bob"))
        # Bob joined later: he is the polite side towards Ada, and she the impolite one.
        [seen] = bob.joined["peers"]
        assert seen["session_id"] == ada.session_id
        assert seen["polite"] is True
        joined = await ada.next("peer.joined")
        assert joined["peer"]["session_id"] == bob.session_id
        assert joined["peer"]["participant_id"] == "bob"
        assert joined["peer"]["polite"] is False
        assert joined["seq"] == 1

        await bob.send({"type": "offer", "to": ada.session_id, "sdp": SDP})
        offer = await ada.next("offer")
        assert offer == {"seq": 2, "type": "offer", "from": bob.session_id, "sdp": SDP}
        await ada.send({"type": "answer", "to": bob.session_id, "sdp": SDP})
        answer = await bob.next("answer")
        assert answer["from"] == ada.session_id
        assert answer["sdp"] == SDP
        await ada.send({"type": "candidate", "to": bob.session_id, "candidate": CANDIDATE})
        candidate = await bob.next("candidate")
        assert candidate["candidate"] == CANDIDATE
        await ada.send({"type": "end-of-candidates", "to": bob.session_id})
        assert (await bob.next("end-of-candidates"))["from"] == ada.session_id
        await bob.send({"type": "ice-restart", "to": ada.session_id})
        assert (await ada.next("ice-restart"))["from"] == bob.session_id

        await bob.leave()
        left = await ada.next("peer.left")
        assert left["session_id"] == bob.session_id
        assert left["reason"] == "left"
        await ada.close()


async def test_a_message_reaches_only_the_peer_it_names(signaling: Signaling) -> None:
    meeting = uuid.uuid4().hex
    async with signaling() as rooms:
        url = rooms + meeting
        peers = [await Peer.join(url, mint(meeting)) for _ in range(3)]
        a, b, c = peers
        for p in (a, a, b):  # each earlier peer hears of each later one
            await p.next("peer.joined")
        await a.send({"type": "offer", "to": c.session_id, "sdp": SDP})
        assert (await c.next("offer"))["from"] == a.session_id
        await b.silent()
        # Unknown and own session ids are refused, not relayed.
        await a.send({"type": "offer", "to": "nobody", "sdp": SDP})
        error = await a.next("error")
        assert error["code"] == "peer-not-found"
        await a.send({"type": "offer", "to": a.session_id, "sdp": SDP})
        assert (await a.next("error"))["code"] == "peer-not-found"
        for p in peers:
            await p.close()


async def test_ping_pong_and_rtt(signaling: Signaling) -> None:
    meeting = uuid.uuid4().hex
    async with signaling(ping_interval_seconds=0.2) as rooms:
        ada = await Peer.join(rooms + meeting, mint(meeting))
        assert ada.joined["ping_interval_ms"] == 200
        await ada.send({"type": "ping", "id": 7})
        assert (await ada.next("pong"))["id"] == 7
        # The server pings; once answered, its next ping carries the measured RTT.
        await ada.next("ping")
        with_rtt = await ada.next("ping")
        assert 0 <= with_rtt["rtt_ms"] < 1000
        await ada.close()


async def test_turn_credentials_follow_the_turn_rest_scheme(signaling: Signaling) -> None:
    meeting = uuid.uuid4().hex
    secret = "coturn-static-auth-secret"
    async with signaling(
        stun_urls=["stun:turn.example.test:3478"],
        turn_urls=["turn:turn.example.test:3478?transport=udp"],
        turn_secret=secret,
        turn_ttl_seconds=3600,
    ) as rooms:
        ada = await Peer.join(rooms + meeting, mint(meeting, "ada"))
        stun, turn = ada.joined["ice_servers"]
        assert stun == {"urls": ["stun:turn.example.test:3478"]}
        expiry, _, participant = turn["username"].partition(":")
        assert participant == "ada"
        assert 3590 < int(expiry) - time.time() <= 3600
        # What coturn computes with use-auth-secret and static-auth-secret=<secret>.
        expected = hmac.new(secret.encode(), turn["username"].encode(), hashlib.sha1).digest()
        assert turn["credential"] == base64.b64encode(expected).decode()
        await ada.close()
