"""This replica's share of the signaling rooms: the sockets it holds, and the sending of numbered
messages: each goes into its recipient's outbox first (directory.py), then straight to a local
socket, or through the pub/sub channel of the replica holding it
(``meeting_signaling.replica.<id>`` on the bus: in-process embedded, Redis distributed; one
subscription per replica, not per room: ADR 0052). Background loops ping every socket and, for
each room held here, end the sessions whose grace ran out (their socket dropped, or their
replica stopped beating). The replica also reads the meeting service's live events
(``meetings.live.*``): a participant that left, was removed or moved out of a room, or whose
meeting ended, has its sessions here ended and their sockets closed (docs/adr/0061)."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import orjson

from v100.contracts.events import MeetingEventData, meeting_live_channel
from v100.kit.bus import Bus, Event, Subscription
from v100.kit.errors import BackendUnavailable
from v100.kit.observability import get_logger
from v100.kit.room_admission import RoomExit, Standings, loses_room
from v100.services.meeting_signaling.connection import Connection
from v100.services.meeting_signaling.directory import Directory, Member
from v100.services.meeting_signaling.protocol import CLOSE_PING_TIMEOUT, CLOSE_REPLACED
from v100.services.meeting_signaling.settings import MeetingSignalingSettings

__all__ = ["Switchboard", "peer_view"]

_log = get_logger("v100.meeting_signaling")
_SERVICE_RESTART = 1012
_PING_SLICES = 10


def peer_view(me: Member | None, peer: Member) -> dict[str, Any]:
    """A peer as ``me`` is told of it. ``polite``: whether ``me`` is the polite side of the pair
    (perfect negotiation): the later joiner is, so both sides agree without asking."""
    view: dict[str, Any] = {
        "session_id": peer.session_id,
        "participant_id": peer.participant_id,
        "name": peer.name,
        "role": peer.role,
        "away": peer.away_since is not None,
    }
    if me is not None:
        view["polite"] = (me.joined_at, me.session_id) > (peer.joined_at, peer.session_id)
    return view


class Switchboard:
    def __init__(
        self,
        settings: MeetingSignalingSettings,
        bus: Bus,
        directory: Directory,
        standings: Standings | None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.bus = bus
        self.directory = directory
        self.standings = standings
        self.clock = clock
        self.replica = uuid.uuid4().hex
        self.local: dict[str, Connection] = {}
        self._rooms: dict[str, int] = {}  # room -> sockets held here
        self._ping_round = 0

    @staticmethod
    def _channel(replica: str) -> str:
        return f"meeting_signaling.replica.{replica}"

    # -- rooms this replica holds sockets in (swept here) ----------------------------------

    def enter(self, room: str) -> None:
        self._rooms[room] = self._rooms.get(room, 0) + 1

    def exit(self, room: str) -> None:
        held = self._rooms.get(room, 0) - 1
        if held > 0:
            self._rooms[room] = held
        else:
            self._rooms.pop(room, None)

    async def forget(self, websocket: object) -> None:
        """Drop the socket an admission failed half-way through (a backend error)."""
        for sid, connection in list(self.local.items()):
            if connection.websocket is websocket:
                del self.local[sid]
                await connection.stop()

    async def _read(self, subscription: Subscription) -> None:
        async for payload in subscription:
            try:
                envelope = orjson.loads(payload)
                if envelope["kind"] == "deliver":
                    room = envelope["room"]
                    for sid, (seq, body) in envelope["to"].items():
                        connection = self.local.get(sid)
                        if connection is not None and connection.room == room:
                            connection.deliver(seq, body)
                elif envelope["kind"] == "takeover":
                    self._taken_over(envelope["session_id"], envelope["conn"])
            except Exception:
                _log.exception("signaling: a message from another replica was not handled")

    # -- the meeting service's live events -------------------------------------------------

    async def _read_meetings(self, subscription: Subscription) -> None:
        try:
            async for raw in subscription:
                try:
                    event = Event.from_json(raw)
                    data = MeetingEventData.model_validate(event.data)
                except ValueError:
                    _log.warning("signaling: a meeting event could not be read")
                    continue
                exit_ = loses_room(event.type, data)
                if exit_ is None or self.standings is None or event.tenant_id is None:
                    continue
                self.standings.forget(event.tenant_id, data.meeting_id, exit_.participant_id)
                try:
                    await self._take_out(f"{event.tenant_id}/{data.meeting_id}/", exit_)
                except Exception:
                    _log.exception("signaling: a meeting event's sockets were not all closed")
        except BackendUnavailable as exc:
            _log.warning("signaling: the meetings' channel failed", error=str(exc))
        finally:
            await subscription.close()

    async def _take_out(self, meeting_key: str, exit_: RoomExit) -> None:
        """End the sessions held here that the event takes out of their rooms (the room is
        told ``peer.left`` with the reason) and close their sockets."""
        for connection in list(self.local.values()):
            room = connection.room
            if not room.startswith(meeting_key) or connection.closing is not None:
                continue
            member = connection.member
            if not exit_.closes(member.participant_id, room[len(meeting_key) :]):
                continue
            await self.end(room, member, exit_.reason.partition(":")[0])
            connection.shut(exit_.code, exit_.reason)

    # -- sending ---------------------------------------------------------------------------

    async def send(self, room: str, messages: Sequence[tuple[Member, dict[str, Any]]]) -> None:
        """Number each message for its recipient (its outbox), then hand it to the recipient's
        socket, here or on the replica holding it."""
        if not messages:
            return
        bodies = [(member, orjson.dumps(message).decode()) for member, message in messages]
        seqs = await self.directory.append([(m.session_id, body) for m, body in bodies])
        await self._hand_over(
            room, [(m, body, seq) for (m, body), seq in zip(bodies, seqs, strict=True)]
        )

    async def relay(self, room: str, to: str, message: dict[str, Any]) -> bool:
        """``send`` to one session, checked to be a member of ``room`` in the same step;
        False when it is not."""
        body = orjson.dumps(message).decode()
        found = await self.directory.relay(room, to, body)
        if found is None:
            return False
        member, seq = found
        await self._hand_over(room, [(member, body, seq)])
        return True

    async def _hand_over(self, room: str, numbered: Sequence[tuple[Member, str, int]]) -> None:
        remote: dict[str, dict[str, tuple[int, str]]] = {}  # replica -> its recipients
        for member, body, seq in numbered:
            connection = self.local.get(member.session_id)
            if connection is not None and connection.room == room:
                connection.deliver(seq, body)
            elif member.replica != self.replica and member.away_since is None:
                remote.setdefault(member.replica, {})[member.session_id] = (seq, body)
        for replica, recipients in remote.items():
            envelope = {"kind": "deliver", "room": room, "to": recipients}
            await self.bus.publish_ephemeral(self._channel(replica), orjson.dumps(envelope))

    async def tell_room(
        self, room: str, about: Member, message: Callable[[Member], dict[str, Any]]
    ) -> None:
        """Send each other member of ``room`` what ``message`` makes for it."""
        members = await self.directory.members(room)
        await self.send(
            room, [(m, message(m)) for sid, m in members.items() if sid != about.session_id]
        )

    async def take_over(self, old: Member) -> None:
        """The session was resumed on a new socket: its old one, wherever it is, closes."""
        self._taken_over(old.session_id, old.conn)
        if old.replica != self.replica:
            envelope = {"kind": "takeover", "session_id": old.session_id, "conn": old.conn}
            await self.bus.publish_ephemeral(self._channel(old.replica), orjson.dumps(envelope))

    def _taken_over(self, session_id: str, conn: str) -> None:
        connection = self.local.get(session_id)
        if connection is not None and connection.member.conn == conn:
            connection.shut(CLOSE_REPLACED, "replaced: the session resumed on another socket")

    # -- sessions whose time ran out -------------------------------------------------------

    def expires_at(self, member: Member, beats: dict[str, float]) -> float | None:
        """When the session's grace ends; None while its socket is held by a live replica."""
        grace = self.settings.grace_seconds
        if member.away_since is not None:
            return member.away_since + grace
        if member.replica == self.replica:
            return None
        beat = beats.get(member.replica)
        if beat is None:
            return 0.0  # its replica is long gone
        if self.clock() - beat > self._stale_after:
            return beat + grace
        return None

    @property
    def _stale_after(self) -> float:
        return max(3 * self.settings.sweep_interval_seconds, 2.0)

    def _ghost(self, member: Member) -> bool:
        if member.replica != self.replica or member.away_since is not None:
            return False
        connection = self.local.get(member.session_id)
        return connection is None or connection.member.conn != member.conn

    async def end(self, room: str, member: Member, reason: str) -> bool:
        """Remove the session and tell the room it left (once, whoever gets there first)."""
        if not await self.directory.remove(room, member):
            return False
        await self.tell_room(
            room, member,
            lambda _: {"type": "peer.left", "session_id": member.session_id, "reason": reason},
        )  # fmt: skip
        return True

    async def sweep(self) -> None:
        """One round: beat, then end the expired sessions of every room held here."""
        rooms = list(self._rooms)
        await self.directory.beat(self.replica, self.clock(), rooms)
        for room in rooms:
            members = await self.directory.members(room)
            beats = await self.directory.beats(sorted({m.replica for m in members.values()}))
            now = self.clock()
            for member in members.values():
                if self._ghost(member):
                    # Named as held here, with no socket here (an admission that failed half
                    # way): away from now, so its grace runs like any dropped socket's.
                    await self.directory.swap(room, member.conn, member.away(now))
                    continue
                ends = self.expires_at(member, beats)
                if ends is not None and now >= ends:
                    await self.end(room, member, "timeout")

    def ping_slice(self) -> None:
        """Ping one slice of the ready sockets (each socket once per ``ping_interval_seconds``,
        spread over the interval rather than all at once: thousands of pings in one burst
        would delay the relays queued behind them); close those that left ``missed_pings``
        unanswered."""
        self._ping_round = (self._ping_round + 1) % _PING_SLICES
        for connection in list(self.local.values()):
            if not connection.ready or connection.closing is not None:
                continue
            if hash(connection.session_id) % _PING_SLICES != self._ping_round:
                continue
            if connection.unanswered >= self.settings.missed_pings:
                connection.shut(CLOSE_PING_TIMEOUT, "ping timeout")
                continue
            connection.ping_id += 1
            connection.unanswered += 1
            connection.ping_sent_at = time.monotonic()
            ping: dict[str, Any] = {"type": "ping", "id": connection.ping_id}
            if connection.rtt_ms is not None:
                ping["rtt_ms"] = connection.rtt_ms
            connection.send(orjson.dumps(ping).decode())

    async def _every(self, seconds: float, step: Callable[[], Any]) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                result = step()
                if asyncio.iscoroutine(result):
                    await result
            except Exception:
                _log.exception("signaling: a periodic step failed", step=step.__name__)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Switchboard]:
        """Beat, sweep and ping while the service runs; at shutdown close every socket 1012
        (its client resumes on another replica)."""
        await self.directory.beat(self.replica, self.clock(), [])
        subscription = self.bus.subscribe(self._channel(self.replica))
        await subscription.open()
        meetings = self.bus.subscribe(meeting_live_channel("*"))
        await meetings.open()
        loops = [
            asyncio.create_task(self._read(subscription)),
            asyncio.create_task(self._read_meetings(meetings)),
            asyncio.create_task(self._every(self.settings.sweep_interval_seconds, self.sweep)),
            asyncio.create_task(
                self._every(self.settings.ping_interval_seconds / _PING_SLICES, self.ping_slice)
            ),
        ]
        try:
            yield self
        finally:
            for loop in loops:
                loop.cancel()
            await subscription.close()
            for connection in list(self.local.values()):
                connection.shut(_SERVICE_RESTART, "service restart: resume on another replica")
            await asyncio.sleep(0.1)
            await self.directory.close()
