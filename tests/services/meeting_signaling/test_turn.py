"""The join answer's TURN credentials against a real TURN server (coturn, ``use-auth-secret``,
started by scripts/services/coturn.sh): two aiortc peers allowed only relayed candidates
(``iceTransportPolicy`` "relay") connect through it and exchange data-channel messages; a
credential made with the wrong secret, or expired, is refused by coturn (401) and the peers
do not connect."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from typing import Any

import aioice.ice
import pytest
from aioice import stun
from aioice.turn import create_turn_endpoint
from aiortc import (
    RTCConfiguration,
    RTCDataChannel,
    RTCIceServer,
    RTCIceTransportPolicy,
    RTCPeerConnection,
    RTCSessionDescription,
)

from v100.services.meeting_signaling.turn import turn_credential

from .conftest import Signaling
from .support import Peer, mint

pytestmark = [pytest.mark.slow, pytest.mark.real_clock]


@pytest.fixture
def platform() -> dict[str, Any]:
    """Embedded only: TURN is what is tested here, the directory's backends elsewhere."""
    return {}


@pytest.fixture
def turn() -> tuple[str, str]:
    """coturn's URL and shared secret, from scripts/services/coturn.sh's environment."""
    url, secret = os.environ.get("V100_TEST_TURN_URL"), os.environ.get("V100_TEST_TURN_SECRET")
    if not url or not secret:
        pytest.skip("no TURN server: run scripts/services/coturn.sh start, source its env")
    return url, secret


@pytest.fixture(autouse=True)
def _loopback_candidates(monkeypatch: pytest.MonkeyPatch) -> None:
    """ICE reaches coturn from 127.0.0.1 alone: no test traffic leaves loopback."""
    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda **_: ["127.0.0.1"])


def relay_only(ice_servers: list[dict[str, Any]]) -> RTCConfiguration:
    """The join answer's ``ice_servers`` as an RTCConfiguration that allows relayed candidates
    alone: a connection then proves the TURN credentials work."""
    return RTCConfiguration(
        iceServers=[RTCIceServer(**server) for server in ice_servers],
        iceTransportPolicy=RTCIceTransportPolicy.RELAY,
    )


def candidates(sdp: str) -> list[str]:
    return [line for line in sdp.splitlines() if line.startswith("a=candidate")]


def server_address(url: str) -> tuple[str, int]:
    host, _, port = url.removeprefix("turn:").partition("?")[0].rpartition(":")
    return host, int(port)


async def allocate(url: str, username: str, credential: str) -> None:
    """One TURN allocation with these credentials (TransactionFailed when refused)."""
    transport, _ = await create_turn_endpoint(
        asyncio.DatagramProtocol, server_address(url), username=username, password=credential
    )
    transport.close()


async def connect(
    signaling: Signaling, settings: dict[str, Any], *, within: float
) -> tuple[list[str], list[str], dict[str, Any]]:
    """Ada and Bob join a room, take their ICE servers from the join answers, allow relayed
    candidates alone and negotiate through signaling; the messages their data channel carried
    (until Bob's reply, Bob's ICE failure, or ``within`` seconds), Bob's offer's candidates,
    and Ada's join answer with Bob's ICE state last seen (``bob_ice``)."""
    meeting = uuid.uuid4().hex
    heard: list[str] = []
    async with signaling(**settings) as rooms:
        ada = await Peer.join(rooms + meeting, mint(meeting, "ada"))
        bob = await Peer.join(rooms + meeting, mint(meeting, "bob"))
        ada_pc = RTCPeerConnection(relay_only(ada.joined["ice_servers"]))
        bob_pc = RTCPeerConnection(relay_only(bob.joined["ice_servers"]))
        try:
            replied, failed = asyncio.Event(), asyncio.Event()

            @bob_pc.on("iceconnectionstatechange")
            def _state() -> None:
                if bob_pc.iceConnectionState == "failed":
                    failed.set()

            @ada_pc.on("datachannel")
            def _channel(channel: RTCDataChannel) -> None:
                @channel.on("message")
                def _message(message: str) -> None:
                    heard.append(f"ada heard {message}")
                    channel.send(f"re: {message}")

            channel = bob_pc.createDataChannel("chat")
            channel.on("open", lambda: channel.send("hello over TURN"))

            @channel.on("message")
            def _reply(message: str) -> None:
                heard.append(f"bob heard {message}")
                replied.set()

            [other] = bob.joined["peers"]
            await bob_pc.setLocalDescription(await bob_pc.createOffer())
            offer_sdp = bob_pc.localDescription.sdp
            await bob.send({"type": "offer", "to": other["session_id"], "sdp": offer_sdp})
            offer = await ada.next("offer", within=30)
            await ada_pc.setRemoteDescription(RTCSessionDescription(offer["sdp"], "offer"))
            await ada_pc.setLocalDescription(await ada_pc.createAnswer())
            await ada.send(
                {"type": "answer", "to": offer["from"], "sdp": ada_pc.localDescription.sdp}
            )
            answer = await bob.next("answer", within=30)
            # Bob's side runs ICE when it takes the answer; a failure is what is looked at.
            await bob_pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
            done = [asyncio.ensure_future(replied.wait()), asyncio.ensure_future(failed.wait())]
            await asyncio.wait(done, timeout=within, return_when=asyncio.FIRST_COMPLETED)
            for waiting in done:
                waiting.cancel()
            return heard, candidates(offer_sdp), ada.joined | {"bob_ice": bob_pc.iceConnectionState}
        finally:
            await ada_pc.close()
            await bob_pc.close()
            await ada.close()
            await bob.close()


async def test_peers_allowed_only_relays_connect_with_the_join_answers_credentials(
    signaling: Signaling, turn: tuple[str, str]
) -> None:
    url, secret = turn
    settings = {"turn_urls": [url], "turn_secret": secret}
    heard, offered, joined = await connect(signaling, settings, within=60)
    [server] = joined["ice_servers"]
    assert server["urls"] == [url]
    assert server["username"].endswith(":ada")
    # Every candidate offered is a relayed address on coturn: host ones were never allowed.
    assert offered
    assert all(" typ relay " in line for line in offered), offered
    assert heard == ["ada heard hello over TURN", "bob heard re: hello over TURN"]
    await allocate(url, server["username"], server["credential"])  # accepted


async def test_a_credential_of_another_secret_is_refused_and_the_peers_do_not_connect(
    signaling: Signaling, turn: tuple[str, str]
) -> None:
    url, _ = turn
    settings = {"turn_urls": [url], "turn_secret": "not-the-secret-coturn-was-given-0123"}
    # Nothing to pair: aioice says so ("no candidate pairs") but, waiting for candidates that
    # could still trickle in, need not report "failed" soon; 20 s without a connection is it.
    heard, offered, joined = await connect(signaling, settings, within=20)
    assert offered == []  # no allocation, so no relayed candidate
    assert heard == []
    assert joined["bob_ice"] != "completed"
    [server] = joined["ice_servers"]
    with pytest.raises(stun.TransactionFailed) as refused:
        await allocate(url, server["username"], server["credential"])
    assert refused.value.response.attributes["ERROR-CODE"][0] == 401


async def test_an_expired_credential_is_refused(turn: tuple[str, str]) -> None:
    url, secret = turn
    username = f"{int(time.time()) - 60}:ada"  # the TURN REST scheme: expired a minute ago
    with pytest.raises(stun.TransactionFailed) as refused:
        await allocate(url, username, turn_credential(secret, username))
    assert refused.value.response.attributes["ERROR-CODE"][0] == 401
    # The same name with a time still ahead is accepted: only the expiry was wrong.
    fresh = f"{int(time.time()) + 60}:ada"
    await allocate(url, fresh, turn_credential(secret, fresh))
    pc = RTCPeerConnection(
        RTCConfiguration(
            iceServers=[RTCIceServer(urls=[url], username=username,
                                     credential=turn_credential(secret, username))],
            iceTransportPolicy=RTCIceTransportPolicy.RELAY,
        )
    )  # fmt: skip
    try:
        pc.createDataChannel("chat")
        await pc.setLocalDescription(await pc.createOffer())
        assert candidates(pc.localDescription.sdp) == []  # nothing to connect with
    finally:
        await pc.close()
