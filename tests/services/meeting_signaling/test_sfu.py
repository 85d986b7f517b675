"""Rooms through the real Janus (scripts/services/janus.sh): aiortc peers publish audio and video
through signaling (``sfu.publish`` -> ``sfu.answer``), learn of each other's feeds
(``sfu.feeds``), subscribe (``sfu.subscribe`` -> ``sfu.offer`` -> ``sfu.start``) and receive
each other's frames; the join answer says the room is on the SFU; a peer of another tenant's room
cannot subscribe to a feed of this one; a room not on the SFU refuses ``sfu.*``."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aioice.ice
import numpy
import pytest
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack
from av import VideoFrame

from v100.contracts.sfu import sfu_room
from v100.kit.janus import Janus, VideoRooms
from v100.kit.testing.janus import JanusServer, janus_server
from v100.kit.testing.servers import serving
from v100.services.meeting_signaling.app import create_app

from .conftest import settings_for
from .support import SECRET, Peer, mint

__all__ = ["janus_server"]


@pytest.fixture(autouse=True)
def _local_candidates(monkeypatch: pytest.MonkeyPatch, janus_server: JanusServer) -> None:
    """ICE gathers host candidates on Janus's own address alone (this host's: Janus skips
    loopback interfaces), so no test traffic leaves the host."""
    address = janus_server.ice_address
    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda **_: [address])


class SmallVideo(VideoStreamTrack):
    """160x120 frames: enough to count, cheap to encode on a loaded machine."""

    async def recv(self) -> VideoFrame:
        pts, time_base = await self.next_timestamp()
        frame = VideoFrame.from_ndarray(numpy.full((120, 160, 3), 90, numpy.uint8), format="rgb24")
        frame.pts, frame.time_base = pts, time_base
        return frame


class SfuClient:
    """A signaling socket with a publishing and a subscribing aiortc peer connection."""

    def __init__(self, peer: Peer) -> None:
        self.peer = peer
        self.boxes: dict[str, asyncio.Queue[dict[str, Any]]] = {}
        self.feeds: dict[int, str] = {}  # other feeds -> their session id
        self.frames: dict[str, int] = {}  # track id -> frames received
        self.kinds: dict[str, str] = {}
        config = RTCConfiguration(iceServers=[])
        self.pub, self.sub = RTCPeerConnection(config), RTCPeerConnection(config)
        self.tasks = [asyncio.create_task(self._route())]
        self.sub.on("track", self._track)

    def box(self, kind: str) -> asyncio.Queue[dict[str, Any]]:
        return self.boxes.setdefault(kind, asyncio.Queue())

    async def _route(self) -> None:
        while True:
            message = await self.peer.next()
            if message["type"] == "sfu.feeds":
                self.feeds |= {f["feed"]: f["session_id"] for f in message["joined"]}
                for gone in message["left"]:
                    self.feeds.pop(gone, None)
            self.box(message["type"]).put_nowait(message)

    async def next(self, kind: str, within: float = 30.0) -> dict[str, Any]:
        async with asyncio.timeout(within):
            return await self.box(kind).get()

    def _track(self, track: MediaStreamTrack) -> None:
        self.kinds[track.id] = track.kind
        self.frames[track.id] = 0

        async def count() -> None:
            with contextlib.suppress(Exception):
                while True:
                    await track.recv()
                    self.frames[track.id] += 1

        self.tasks.append(asyncio.create_task(count()))

    async def publish(self) -> None:
        self.pub.addTrack(AudioStreamTrack())
        self.pub.addTrack(SmallVideo())
        await self.pub.setLocalDescription(await self.pub.createOffer())
        await self.peer.send({"type": "sfu.publish", "sdp": self.pub.localDescription.sdp})
        await self._gathered("publisher")
        answer = await self.next("sfu.answer")
        await self.pub.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))

    async def subscribe(self, feeds: list[int]) -> dict[str, Any]:
        await self.peer.send({"type": "sfu.subscribe", "feeds": feeds})
        offer = await self.next("sfu.offer")
        await self.sub.setRemoteDescription(RTCSessionDescription(offer["sdp"], "offer"))
        await self.sub.setLocalDescription(await self.sub.createAnswer())
        await self.peer.send({"type": "sfu.start", "sdp": self.sub.localDescription.sdp})
        await self._gathered("subscriber")
        return offer

    async def _gathered(self, target: str) -> None:
        """aiortc puts every candidate in its SDP: the end of them, as a browser trickles it."""
        end = {"type": "sfu.candidate", "target": target, "candidate": {"candidate": ""}}
        await self.peer.send(end)

    def received(self, kind: str) -> list[int]:
        return [n for track, n in self.frames.items() if self.kinds[track] == kind]

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await self.pub.close()
        await self.sub.close()
        await self.peer.close()


@contextlib.asynccontextmanager
async def janus_signaling(
    platform: dict[str, Any], tmp_path: Path, janus_server: JanusServer
) -> AsyncIterator[tuple[str, VideoRooms]]:
    """A signaling replica on Janus, and the VideoRooms the meeting service would make."""
    with_janus = {**platform, "janus_url": janus_server.url, "janus_secret": janus_server.secret}
    settings = settings_for(with_janus, tmp_path / "replica")
    janus = Janus(janus_server.url, janus_server.secret)
    rooms = VideoRooms(janus, janus_server.secret)
    try:
        async with serving(create_app(settings), ready=True) as url:
            yield url.replace("http://", "ws://") + "/v1/signaling/rooms/", rooms
    finally:
        await rooms.close()
        await janus.close()


def ice_ufrag(sdp: str) -> str:
    return next(line for line in sdp.splitlines() if line.startswith("a=ice-ufrag:"))


async def eventually(condition: Any, within: float = 60.0) -> None:
    """Poll ``condition`` until it holds (generous: the machine is shared)."""
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not within {within} s")
        await asyncio.sleep(0.1)


@pytest.mark.slow
async def test_peers_exchange_audio_and_video_through_the_sfu(
    platform: dict[str, Any], tmp_path: Path, janus_server: JanusServer
) -> None:
    meeting = uuid.uuid4().hex
    room = sfu_room(SECRET, "tenant-a", meeting, "main")
    clients: list[SfuClient] = []
    async with janus_signaling(platform, tmp_path, janus_server) as (url, rooms):
        assert await rooms.create(room, publishers=10)
        try:
            for name in ("ada", "bob", "cy"):
                peer = await Peer.join(url + meeting, mint(meeting, name))
                assert peer.joined["media"] == {"mode": "sfu"}
                clients.append(SfuClient(peer))
            await asyncio.gather(*(client.publish() for client in clients))
            # Each learns of the two others' feeds, named by their sessions.
            await eventually(lambda: all(len(c.feeds) == 2 for c in clients))
            sessions = {c.peer.session_id for c in clients}
            for client in clients:
                assert set(client.feeds.values()) == sessions - {client.peer.session_id}
            offers = await asyncio.gather(*(c.subscribe(sorted(c.feeds)) for c in clients))
            assert {s["session_id"] for s in offers[0]["streams"]} == set(clients[0].feeds.values())
            # Audio frames arrive from both others at each peer, and video frames. (aiortc, as a
            # subscriber of two VP8 streams in one PeerConnection, decodes one of them only: its
            # RTP routing, not Janus; the browser test checks every stream.)
            await eventually(
                lambda: all(
                    len(c.received("audio")) == 2 and min(c.received("audio")) >= 5
                    and len(c.received("video")) == 2 and max(c.received("video")) >= 5
                    for c in clients
                )
            )  # fmt: skip
            # A subscriber whose ICE failed asks for a restart: Janus offers again, with new
            # ICE credentials (every offer so far answered, as a browser does).
            await clients[0].peer.send({"type": "sfu.restart"})
            restarted = await clients[0].next("sfu.offer", within=60)
            assert ice_ufrag(restarted["sdp"]) != ice_ufrag(offers[0]["sdp"])
            # One leaves: the others are told its feed left.
            gone = clients.pop()
            await gone.peer.leave()
            await gone.close()
            await eventually(lambda: all(len(c.feeds) == 1 for c in clients))
        finally:
            for client in clients:
                await client.close()
            await rooms.destroy(room)


async def test_no_feed_of_another_room_and_no_sfu_for_a_mesh_room(
    platform: dict[str, Any], tmp_path: Path, janus_server: JanusServer
) -> None:
    meeting = uuid.uuid4().hex
    ours = sfu_room(SECRET, "tenant-a", meeting, "main")
    theirs = sfu_room(SECRET, "tenant-b", meeting, "main")  # another tenant, same meeting id
    async with janus_signaling(platform, tmp_path, janus_server) as (url, rooms):
        assert await rooms.create(ours, publishers=10)
        assert await rooms.create(theirs, publishers=10)
        ada = SfuClient(await Peer.join(url + meeting, mint(meeting, "ada")))
        eve = SfuClient(await Peer.join(url + meeting, mint(meeting, "eve", tenant_id="tenant-b")))
        mesh = await Peer.join(url + meeting, mint(meeting, "bob", room="breakout-1"))
        try:
            await ada.publish()
            await eve.peer.send({"type": "sfu.join"})
            eve_feeds = await eve.next("sfu.feeds")
            assert eve_feeds["joined"] == []  # ada's feed is not in eve's room
            ada_feed = (await ada.next("sfu.feeds"))["feed"]
            await eve.peer.send({"type": "sfu.subscribe", "feeds": [ada_feed]})
            assert (await eve.next("error"))["code"] == "sfu-refused"
            assert eve.box("sfu.offer").empty()
            # A room with no VideoRoom: the join answer says mesh; sfu.* is refused.
            assert mesh.joined["media"] == {"mode": "mesh"}
            await mesh.send({"type": "sfu.join"})
            assert (await mesh.next("error"))["code"] == "sfu-refused"
            # No subscriber yet: nothing to restart.
            await ada.peer.send({"type": "sfu.restart"})
            assert (await ada.next("error"))["code"] == "sfu-not-subscribed"
        finally:
            for client in (ada, eve):
                await client.close()
            await mesh.close()
            await rooms.destroy(ours)
            await rooms.destroy(theirs)
