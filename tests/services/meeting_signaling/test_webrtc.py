"""Two real WebRTC peers (aiortc) negotiate through the service: the newcomer (the polite side)
offers, the other answers, ICE runs on loopback only, and a data channel opens and carries a
message both ways."""

from __future__ import annotations

import asyncio
import uuid

import aioice.ice
import pytest
from aiortc import RTCConfiguration, RTCDataChannel, RTCPeerConnection, RTCSessionDescription

from .conftest import Signaling
from .support import Peer, mint


@pytest.fixture(autouse=True)
def _loopback_candidates(monkeypatch: pytest.MonkeyPatch) -> None:
    """ICE gathers host candidates on 127.0.0.1 alone: no test traffic leaves loopback."""
    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda **_: ["127.0.0.1"])


async def _answering(pc: RTCPeerConnection, peer: Peer) -> None:
    offer = await peer.next("offer", within=30)
    await pc.setRemoteDescription(RTCSessionDescription(sdp=offer["sdp"], type="offer"))
    await pc.setLocalDescription(await pc.createAnswer())
    local = pc.localDescription
    await peer.send({"type": "answer", "to": offer["from"], "sdp": local.sdp})
    await peer.send({"type": "end-of-candidates", "to": offer["from"]})


async def test_two_webrtc_peers_open_a_data_channel(signaling: Signaling) -> None:
    meeting = uuid.uuid4().hex
    config = RTCConfiguration(iceServers=[])
    ada_pc, bob_pc = RTCPeerConnection(config), RTCPeerConnection(config)
    try:
        async with signaling() as rooms:
            url = rooms + meeting
            ada = await Peer.join(url, mint(meeting, "ada"))
            bob = await Peer.join(url, mint(meeting, "bob"))
            [other] = bob.joined["peers"]
            assert other["polite"] is True  # Bob, the newcomer, offers

            heard: asyncio.Queue[str] = asyncio.Queue()
            opened = asyncio.Event()

            @ada_pc.on("datachannel")
            def _channel(channel: RTCDataChannel) -> None:
                opened.set()

                @channel.on("message")
                def _message(message: str) -> None:
                    heard.put_nowait(f"ada heard {message}")
                    channel.send(f"re: {message}")

            channel = bob_pc.createDataChannel("chat")
            channel_open = asyncio.Event()
            channel.on("open", channel_open.set)

            @channel.on("message")
            def _reply(message: str) -> None:
                heard.put_nowait(f"bob heard {message}")

            answering = asyncio.create_task(_answering(ada_pc, ada))
            await bob_pc.setLocalDescription(await bob_pc.createOffer())
            await bob.send(
                {"type": "offer", "to": other["session_id"], "sdp": bob_pc.localDescription.sdp}
            )
            answer = await bob.next("answer", within=30)
            assert answer["from"] == ada.session_id
            await bob_pc.setRemoteDescription(
                RTCSessionDescription(sdp=answer["sdp"], type="answer")
            )
            assert (await bob.next("end-of-candidates"))["from"] == ada.session_id
            await answering
            async with asyncio.timeout(30):
                await channel_open.wait()
                await opened.wait()
            channel.send("hello")
            async with asyncio.timeout(10):
                assert await heard.get() == "ada heard hello"
                assert await heard.get() == "bob heard re: hello"
            assert ada_pc.iceConnectionState in ("connected", "completed")
            for sdp in (answer["sdp"], bob_pc.localDescription.sdp):
                candidates = [line for line in sdp.splitlines() if line.startswith("a=candidate")]
                assert candidates
                assert all(" 127.0.0.1 " in line for line in candidates)
            for peer in (ada, bob):
                await peer.close()
    finally:
        await ada_pc.close()
        await bob_pc.close()
