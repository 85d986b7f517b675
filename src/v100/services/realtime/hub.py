"""This replica's share of the realtime rooms: the sockets it holds in each, and the room's stream
delivered to them in ``seq`` order. A change goes into the store first (which numbers it), then
onto the rooms' pub/sub channel (``realtime.rooms`` on the bus: in-process embedded, Redis
distributed; one subscription per replica, each message naming its room); every replica holding
sockets in the room takes it and fills any gap (a message that overtook another) from the room's
log, so each socket gets every message once, in order. The replica also reads the meeting
service's live events (``meetings.live.*``, one subscription) and relays those of the meetings
it holds rooms of into those rooms (the store appends each event once, however many replicas relay
it), and sweeps its rooms for participants whose heartbeats stopped."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import orjson

from v100.contracts.events import MeetingEventData, meeting_live_channel
from v100.kit.bus import Bus, Event, Subscription
from v100.kit.errors import BackendUnavailable
from v100.kit.observability import get_logger
from v100.kit.room_admission import RoomExit, Standings, loses_room
from v100.services.realtime.connection import Connection, numbered
from v100.services.realtime.protocol import CLOSE_LAGGING
from v100.services.realtime.settings import RealtimeSettings
from v100.services.realtime.store import Gap, Numbered, Room, Store

__all__ = ["Hub"]

_log = get_logger("v100.realtime")
_SERVICE_RESTART = 1012
_TRY_AGAIN_LATER = 1013


@dataclass(eq=False)
class _Local:
    room: Room
    connections: set[Connection] = field(default_factory=set)
    last: int = 0  # the last seq delivered to this replica's sockets of the room
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    opening: asyncio.Task[None] | None = None


_ROOMS_CHANNEL = "realtime.rooms"


class Hub:
    def __init__(
        self,
        settings: RealtimeSettings,
        bus: Bus,
        store: Store,
        standings: Standings | None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.bus = bus
        self.store = store
        self.standings = standings
        self.clock = clock
        self._rooms: dict[str, _Local] = {}
        self._meetings: dict[str, set[str]] = {}  # meeting id -> its rooms held here
        self._draining: dict[str, Room] = {}

    def expires_at(self) -> float:
        """When a presence refreshed now expires."""
        allowance = self.settings.heartbeat_interval_seconds * self.settings.missed_heartbeats
        return self.clock() + allowance

    # --- sockets entering and leaving -----------------------------------------------------

    async def enter(self, room: Room, connection: Connection) -> None:
        """Hold ``connection`` in ``room``: from now on it is given the room's messages."""
        local = self._rooms.get(room.key)
        if local is None:
            local = self._rooms[room.key] = _Local(room)
            local.opening = asyncio.create_task(self._open(local))
        local.connections.add(connection)
        assert local.opening is not None
        await asyncio.shield(local.opening)

    async def _open(self, local: _Local) -> None:
        room = local.room
        # The rooms' channel is read from the start: whatever is numbered after this head
        # arrives on it.
        local.last = await self.store.head(room.key)
        self._meetings.setdefault(room.meeting_id, set()).add(room.key)

    async def exit(self, connection: Connection) -> None:
        """The socket is gone from this replica."""
        local = self._rooms.get(connection.room.key)
        if local is None:
            return
        local.connections.discard(connection)
        if local.connections:
            return
        del self._rooms[connection.room.key]
        if local.opening is not None:
            local.opening.cancel()
        rooms = self._meetings.get(local.room.meeting_id)
        if rooms is not None:
            rooms.discard(local.room.key)
            if not rooms:
                del self._meetings[local.room.meeting_id]
        # Its participants may still be present (a socket that dropped): the sweep goes on
        # until they have left or expired.
        self._draining[local.room.key] = local.room

    # --- the rooms' streams ---------------------------------------------------------------

    async def publish(self, room: Room, items: list[Numbered]) -> None:
        """Put what the store numbered on the rooms' channel."""
        for seq, body in items:
            await self.bus.publish_ephemeral(_ROOMS_CHANNEL, f"{room.key}\n{numbered(seq, body)}")

    async def _read_rooms(self, subscription: Subscription) -> None:
        try:
            async for raw in subscription:
                key, _, text = raw.decode().partition("\n")
                local = self._rooms.get(key)
                if local is None or local.opening is None or not local.opening.done():
                    continue  # not held here (or not yet: its head is read after this)
                comma = text.index(",")
                try:
                    await self._deliver(local, int(text[7:comma]), "{" + text[comma + 1 :])
                except BackendUnavailable as exc:
                    # The gap could not be filled: its sockets reconnect with ``since``.
                    _log.warning("realtime: a room's log could not be read", error=str(exc))
                    for connection in list(local.connections):
                        connection.shut(_TRY_AGAIN_LATER, "realtime is unavailable; reconnect")
        except BackendUnavailable as exc:
            _log.warning("realtime: the rooms' channel failed", error=str(exc))
        finally:
            await subscription.close()

    async def _deliver(self, local: _Local, seq: int, body: str) -> None:
        async with local.lock:
            if seq <= local.last:
                return
            items = [(seq, body)]
            if seq > local.last + 1:  # one overtook another: the log has both
                try:
                    items = await self.store.since(local.room.key, local.last)
                except Gap:
                    for connection in list(local.connections):
                        connection.shut(CLOSE_LAGGING, "lagging: reconnect with since")
                    local.last = seq
                    return
            for number, message in items:
                if number > local.last:
                    for connection in list(local.connections):
                        connection.deliver(number, message)
                    local.last = number

    # --- the meeting service's live events ------------------------------------------------

    async def _read_meetings(self, subscription: Subscription) -> None:
        try:
            async for raw in subscription:
                try:
                    event = Event.from_json(raw)
                    data = MeetingEventData.model_validate(event.data)
                except ValueError:
                    _log.warning("realtime: a meeting event could not be read")
                    continue
                exit_ = loses_room(event.type, data)
                if event.tenant_id is None:
                    continue
                if exit_ is not None and self.standings is not None:
                    self.standings.forget(event.tenant_id, data.meeting_id, exit_.participant_id)
                for key in list(self._meetings.get(data.meeting_id, ())):
                    local = self._rooms.get(key)
                    if local is not None and local.room.tenant_id == event.tenant_id:
                        try:
                            await self._relay(local.room, event, data)
                            if exit_ is not None and self.standings is not None:
                                await self._take_out(local, exit_)
                        except BackendUnavailable as exc:
                            _log.warning("realtime: a meeting event not relayed", error=str(exc))
        except BackendUnavailable as exc:
            _log.warning("realtime: a meeting's channel failed", error=str(exc))
        finally:
            await subscription.close()

    async def _relay(self, room: Room, event: Event, data: MeetingEventData) -> None:
        """The meeting event into the room's stream; a participant the meeting service says
        left (or moved out of this room) is no longer present here."""
        body = {
            "type": "meeting.event",
            "event": {
                "type": event.type,
                "time": event.time.isoformat(),
                "data": data.model_dump(mode="json", exclude_none=True),
            },
        }
        items = await self.store.relay(room.key, str(data.sequence), orjson.dumps(body).decode())
        gone = data.participant
        moved_out = event.type == "meeting.participant.moved" and data.from_room == room.name
        if gone is not None and (event.type == "meeting.participant.left" or moved_out):
            reason = "moved" if moved_out else data.reason or "left"
            items += await self.store.leave(room.key, gone.id, reason)
        await self.publish(room, items)

    async def _take_out(self, local: _Local, exit_: RoomExit) -> None:
        """Close the sockets the event takes out of the room (docs/adr/0061), once what the
        room's log holds (the event itself among it) has reached them."""
        leaving = [c for c in local.connections if exit_.closes(c.participant_id, local.room.name)]
        if not leaving:
            return
        with contextlib.suppress(Gap):
            async with local.lock:
                for number, message in await self.store.since(local.room.key, local.last):
                    if number > local.last:
                        for connection in list(local.connections):
                            connection.deliver(number, message)
                        local.last = number
        for connection in leaving:
            connection.shut(exit_.code, exit_.reason)

    # --- presence expiry and the service's life -------------------------------------------

    async def sweep(self) -> None:
        """End the presence of those whose heartbeats stopped, in the rooms held here and in
        those this replica's last socket left while someone was still present; release the
        latter once nobody is."""
        now = self.clock()
        for local in list(self._rooms.values()):
            await self.publish(local.room, await self.store.expire(local.room.key, now))
        for key, room in list(self._draining.items()):
            if key not in self._rooms:
                await self.publish(room, await self.store.expire(key, now))
                if (await self.store.snapshot(key))[1]:
                    continue
                await self.store.release(key)
            del self._draining[key]

    async def _sweeping(self) -> None:
        while True:
            await asyncio.sleep(self.settings.sweep_interval_seconds)
            try:
                await self.sweep()
            except Exception:
                _log.exception("realtime: a sweep failed")

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Hub]:
        """Sweep while the service runs; at shutdown close every socket 1012 (its client
        reconnects to another replica with ``since``)."""
        rooms = self.bus.subscribe(_ROOMS_CHANNEL)
        await rooms.open()
        meetings = self.bus.subscribe(meeting_live_channel("*"))
        await meetings.open()
        loops = [
            asyncio.create_task(self._read_rooms(rooms)),
            asyncio.create_task(self._read_meetings(meetings)),
            asyncio.create_task(self._sweeping()),
        ]
        try:
            yield self
        finally:
            for loop in loops:
                loop.cancel()
            for local in list(self._rooms.values()):
                for connection in list(local.connections):
                    connection.shut(_SERVICE_RESTART, "service restart: reconnect")
            await asyncio.sleep(0.1)
            await self.store.close()
