"""The SFU path of a room (ADR 0058): the browser never reaches Janus; its ``sfu.*`` messages
come here and this replica drives Janus's VideoRoom for it, on handles it owns while it holds the
socket: a publisher handle (joined to the room's VideoRoom with its pin; ``sfu.publish``'s offer
configured on it, Janus's answer back as ``sfu.answer``; the room's publishers announced as
``sfu.feeds``, mapped to the room's sessions) and a subscriber handle (``sfu.subscribe`` to
feeds: Janus's offer as ``sfu.offer``, the client's answer ``sfu.start``). Trickle goes both ways
(``sfu.candidate``). A socket that ends (or resumes on another replica) loses its handles: the
client publishes and subscribes again (docs/meeting-signaling.md).

Which room is on the SFU: the meeting service makes the VideoRoom and announces
``meeting.media.changed``; a join asks Janus whether the room's VideoRoom exists (the join answer's
``media``), and the announcement tells the sockets held here (``{"type": "media"}``)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson

from v100.contracts.events import MEETING_MEDIA_CHANGED
from v100.contracts.meeting_tokens import MeetingToken
from v100.contracts.sfu import room_key, sfu_room
from v100.kit.bus import Bus
from v100.kit.errors import BackendUnavailable
from v100.kit.janus import (
    VIDEOROOM,
    Janus,
    JanusError,
    JanusEvent,
    JanusHandle,
    JanusSession,
    VideoRoom,
    VideoRooms,
)
from v100.kit.observability import get_logger
from v100.kit.settings import PlatformSettings
from v100.services.meeting_signaling.connection import Connection
from v100.services.meeting_signaling.protocol import (
    ProtocolError,
    SfuCandidate,
    SfuMessage,
    SfuPublish,
    SfuRestart,
    SfuStart,
    SfuSubscribe,
    SfuUnpublish,
)
from v100.services.meeting_signaling.switchboard import Switchboard

__all__ = ["SfuRelay"]

_log = get_logger("v100.meeting_signaling.sfu")


@dataclass(frozen=True, slots=True)
class _Seat:
    """What a joined socket may do on the SFU: its room's VideoRoom and its grants."""

    room: VideoRoom
    publish: bool
    subscribe: bool


class SfuRelay:
    """This replica's SFU side: the VideoRoom handles of the sockets it holds."""

    def __init__(self, platform: PlatformSettings, switchboard: Switchboard) -> None:
        self.switchboard = switchboard
        self.secret = platform.resolved_internal_token_secret
        self.janus: Janus | None = None
        self.rooms: VideoRooms | None = None
        if platform.janus_url is not None:
            api_secret = platform.janus_secret
            key = None if api_secret is None else api_secret.get_secret_value()
            self.janus = Janus(platform.janus_url, key, timeout=10.0)
            self.rooms = VideoRooms(self.janus, key)
        self._session: JanusSession | None = None
        self._session_lock = asyncio.Lock()
        self._seats: dict[str, _Seat] = {}
        self._peers: dict[str, _SfuPeer] = {}

    async def media(self, token: MeetingToken, session_id: str) -> dict[str, Any]:
        """The join answer's ``media``: whether the token's room is on the SFU now."""
        video_room = sfu_room(self.secret, token.tenant_id, token.meeting_id, token.room)
        self._seats[session_id] = _Seat(video_room, token.grants.publish, token.grants.subscribe)
        if self.rooms is None:
            return {"mode": "mesh"}
        try:
            on_sfu = await self.rooms.exists(video_room)
        except (JanusError, BackendUnavailable) as exc:
            _log.warning("signaling: Janus did not say whether a room is on it", error=str(exc))
            on_sfu = False
        return {"mode": "sfu" if on_sfu else "mesh"}

    async def session(self) -> JanusSession:
        """The replica's Janus session (one long-poll for all its handles), made again when
        Janus lost it."""
        assert self.janus is not None
        async with self._session_lock:
            if self._session is None or not self._session.alive:
                self._session = await self.janus.session()
            return self._session

    async def handle(self, connection: Connection, message: SfuMessage) -> None:
        seat = self._seats.get(connection.session_id)
        if self.janus is None or seat is None:
            raise ProtocolError("sfu-not-active", "This room's media is peer-to-peer.")
        peer = self._peers.get(connection.session_id)
        if peer is None or peer.connection is not connection:
            if peer is not None:
                await peer.close()
            peer = self._peers[connection.session_id] = _SfuPeer(self, connection, seat)
        try:
            async with peer.lock:
                await peer.handle(message)
        except JanusError as exc:
            raise ProtocolError("sfu-refused", f"The SFU refused: {exc.reason}") from None
        except BackendUnavailable:
            raise ProtocolError("sfu-unavailable", "The SFU does not answer; retry.") from None

    async def release(self, connection: Connection) -> None:
        """The socket ended: its handles go (Janus tells the room its feed left)."""
        if self._seats.get(connection.session_id) is not None:
            peer = self._peers.get(connection.session_id)
            if peer is not None and peer.connection is connection:
                del self._peers[connection.session_id]
                await peer.close()

    def forget(self, session_id: str) -> None:
        self._seats.pop(session_id, None)

    async def _changed(self, event: dict[str, Any]) -> None:
        data = event.get("data") or {}
        room = room_key(str(event["tenant_id"]), str(data["meeting_id"]), str(data["room"]))
        media = {"type": "media", "mode": data["media"]}
        local = [c for c in self.switchboard.local.values() if c.room == room]
        if data["media"] == "mesh":
            for connection in local:
                await self.release(connection)
        await self.switchboard.send(room, [(c.member, media) for c in local])

    async def _listen(self, bus: Bus) -> None:
        subscription = bus.subscribe("meetings.live.*")
        await subscription.open()
        try:
            async for payload in subscription:
                try:
                    event = orjson.loads(payload)
                    if event.get("type") == MEETING_MEDIA_CHANGED:
                        await self._changed(event)
                except Exception:
                    _log.exception("signaling: a media change was not handled")
        finally:
            await subscription.close()

    @contextlib.asynccontextmanager
    async def running(self, bus: Bus) -> AsyncIterator[SfuRelay]:
        listening = asyncio.create_task(self._listen(bus))
        try:
            yield self
        finally:
            listening.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await listening
            for peer in list(self._peers.values()):
                await peer.close()
            if self._session is not None:
                await self._session.destroy()
            if self.rooms is not None:
                await self.rooms.close()
            if self.janus is not None:
                await self.janus.close()


class _SfuPeer:
    """One socket's handles on the SFU, and the pumps that carry Janus's events to it."""

    def __init__(self, relay: SfuRelay, connection: Connection, seat: _Seat) -> None:
        self.relay = relay
        self.connection = connection
        self.seat = seat
        self.lock = asyncio.Lock()
        self.publisher: JanusHandle | None = None
        self.subscriber: JanusHandle | None = None
        self.feed: int | None = None  # this socket's own feed id
        self.known: dict[Any, str] = {}  # feed id -> session id
        self._pumps: list[asyncio.Task[None]] = []

    async def _tell(self, message: dict[str, Any]) -> None:
        switchboard = self.relay.switchboard
        await switchboard.send(self.connection.room, [(self.connection.member, message)])

    async def _feeds(self, publishers: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Janus's publishers as the client is told of them: each feed with the session and
        participant it is (its ``display`` is the session id; another room's never shows)."""
        members = await self.relay.switchboard.directory.members(self.connection.room)
        feeds = []
        for publisher in publishers:
            member = members.get(str(publisher.get("display")))
            if member is None or publisher["id"] == self.feed:
                continue
            self.known[publisher["id"]] = member.session_id
            feeds.append({
                "feed": publisher["id"], "session_id": member.session_id,
                "participant_id": member.participant_id, "name": member.name,
                "streams": [
                    {"mid": s.get("mid"), "type": s.get("type")}
                    for s in publisher.get("streams") or [] if not s.get("disabled")
                ],
            })  # fmt: skip
        return feeds

    async def _joined(self) -> JanusHandle:
        """The publisher handle, joined to the room (the room's publishers announced)."""
        if self.publisher is not None:
            return self.publisher
        session = await self.relay.session()
        handle = await session.attach(VIDEOROOM)
        self.publisher = handle
        answer = await handle.message({
            "request": "join", "ptype": "publisher", "room": self.seat.room.number,
            "pin": self.seat.room.pin, "display": self.connection.session_id,
        })  # fmt: skip
        self.feed = int(answer.data["id"])
        self._pumps.append(asyncio.create_task(self._pump(handle, "publisher")))
        feeds = await self._feeds(answer.data.get("publishers") or [])
        await self._tell({"type": "sfu.feeds", "feed": self.feed, "joined": feeds, "left": []})
        return handle

    async def handle(self, message: SfuMessage) -> None:
        if isinstance(message, SfuPublish):
            if not self.seat.publish:
                raise ProtocolError("grant-required", "The meeting token grants no publish.")
            handle = await self._joined()
            answer = await handle.message(
                {"request": "configure", "audio": True, "video": True},
                {"type": "offer", "sdp": message.sdp},
            )
            if answer.jsep is None:
                raise ProtocolError("sfu-refused", "The SFU answered the offer with no SDP.")
            await self._tell({"type": "sfu.answer", "sdp": answer.jsep["sdp"]})
        elif isinstance(message, SfuUnpublish):
            if self.publisher is not None:
                await self.publisher.message({"request": "unpublish"})
        elif isinstance(message, SfuSubscribe):
            await self._subscribe(message)
        elif isinstance(message, SfuStart):
            if self.subscriber is None:
                raise ProtocolError("sfu-not-subscribed", "sfu.start answers an sfu.offer.")
            await self.subscriber.message(
                {"request": "start"}, {"type": "answer", "sdp": message.sdp}
            )
        elif isinstance(message, SfuRestart):
            # The subscriber's ICE failed (the publisher restarts with a new offer of its own):
            # Janus's subscriber offers again with new ICE credentials.
            if self.subscriber is None:
                raise ProtocolError("sfu-not-subscribed", "sfu.restart restarts a subscriber.")
            await self._offer(
                await self.subscriber.message({"request": "configure", "restart": True})
            )
        elif isinstance(message, SfuCandidate):
            target = self.publisher if message.target == "publisher" else self.subscriber
            if target is None:
                raise ProtocolError("sfu-not-subscribed", f"No {message.target} to trickle to.")
            candidate = message.candidate.model_dump(exclude_none=True)
            await target.trickle(candidate if candidate.get("candidate") else None)
        else:  # sfu.join: the room's feeds, without publishing (a viewer)
            await self._joined()

    async def _subscribe(self, message: SfuSubscribe) -> None:
        if not self.seat.subscribe:
            raise ProtocolError("grant-required", "The meeting token grants no subscribe.")
        await self._joined()  # the feeds are announced to subscribers too
        streams = [{"feed": feed} for feed in message.feeds]
        if message.type == "sfu.unsubscribe":
            if self.subscriber is None:
                return
            answer = await self.subscriber.message({"request": "update", "unsubscribe": streams})
        elif self.subscriber is None:
            session = await self.relay.session()
            handle = await session.attach(VIDEOROOM)
            self.subscriber = handle
            self._pumps.append(asyncio.create_task(self._pump(handle, "subscriber")))
            answer = await handle.message({
                "request": "join", "ptype": "subscriber", "room": self.seat.room.number,
                "pin": self.seat.room.pin, "streams": streams, "use_msid": True,
            })  # fmt: skip
        else:
            answer = await self.subscriber.message({"request": "update", "subscribe": streams})
        await self._offer(answer)

    async def _offer(self, event: JanusEvent) -> None:
        if event.jsep is None:
            return
        streams = [
            {"mid": s.get("mid"), "type": s.get("type"), "feed": s.get("feed_id"),
             "session_id": s.get("feed_display"), "active": s.get("active", True)}
            for s in event.data.get("streams") or []
        ]  # fmt: skip
        await self._tell({"type": "sfu.offer", "sdp": event.jsep["sdp"], "streams": streams})

    async def _pump(self, handle: JanusHandle, target: str) -> None:
        """What Janus says unasked on ``handle``, told to the client."""
        while True:
            event = await handle.events.get()
            try:
                if event.kind == "detached":
                    return
                if event.kind == "trickle":
                    candidate = {"candidate": ""} if event.data.get("completed") else event.data
                    await self._tell({"type": "sfu.candidate", "target": target,
                                      "candidate": candidate})  # fmt: skip
                elif event.kind in ("webrtcup", "hangup"):
                    await self._tell({"type": "sfu.state", "target": target, "state": event.kind})
                elif event.kind == "event":
                    await self._plugin_event(event, target)
            except Exception:
                _log.exception("signaling: an SFU event was not passed on", kind=event.kind)

    async def _plugin_event(self, event: JanusEvent, target: str) -> None:
        data = event.data
        what = data.get("videoroom")
        if target == "subscriber":
            if event.jsep is not None:  # Janus renegotiates (a feed went or came)
                await self._offer(event)
            return
        if what in ("talking", "stopped-talking"):  # the room's audio level events
            feed = data.get("id")
            await self._tell({"type": "sfu.talking", "feed": feed, "talking": what == "talking",
                              "session_id": self.known.get(feed)})  # fmt: skip
            return
        if what != "event":
            return
        if data.get("publishers"):
            feeds = await self._feeds(data["publishers"])
            if feeds:
                await self._tell({"type": "sfu.feeds", "feed": self.feed, "joined": feeds,
                                  "left": []})  # fmt: skip
        gone = data.get("unpublished") or data.get("leaving")
        if isinstance(gone, int) and gone != self.feed:
            await self._tell({"type": "sfu.feeds", "feed": self.feed, "joined": [],
                              "left": [gone]})  # fmt: skip

    async def close(self) -> None:
        for pump in self._pumps:
            pump.cancel()
        for handle in (self.subscriber, self.publisher):
            if handle is not None:
                if handle is self.publisher:
                    with contextlib.suppress(JanusError, BackendUnavailable):
                        await handle.message({"request": "leave"}, within=5)
                await handle.detach()
        self.publisher = self.subscriber = None
