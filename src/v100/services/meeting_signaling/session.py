"""One signaling socket from its join to its end: let in by ``kit.room_admission`` (the meeting
token checked; close 4400/4401/4403/4408), the session admitted (a resume within the grace
window keeps its identity and gets what it missed; otherwise a new join), the join answer, then
the client's messages relayed to named peers of the same room until it leaves or its socket
drops (then the room is told ``peer.disconnected``, and ``peer.left`` once the grace window
ends without a resume)."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from typing import Any

import orjson
from starlette.websockets import WebSocket, WebSocketDisconnect

from v100.contracts.meeting_tokens import MeetingToken, MeetingTokens
from v100.kit.errors import BackendUnavailable
from v100.kit.observability import get_logger
from v100.kit.room_admission import CLOSE_TRY_AGAIN_LATER, admit, close_socket
from v100.services.meeting_signaling.connection import Connection, numbered
from v100.services.meeting_signaling.directory import Gap, Member, room_key
from v100.services.meeting_signaling.protocol import (
    CLOSE_REPLACED,
    CLOSE_ROOM_FULL,
    Join,
    Leave,
    Ping,
    Pong,
    ProtocolError,
    SfuMessage,
    parse,
)
from v100.services.meeting_signaling.sfu import SfuRelay
from v100.services.meeting_signaling.switchboard import Switchboard, peer_view
from v100.services.meeting_signaling.turn import ice_servers

__all__ = ["serve"]

_log = get_logger("v100.meeting_signaling")


def _error(code: str, detail: str, about: str | None = None) -> str:
    message: dict[str, Any] = {"type": "error", "code": code, "detail": detail}
    if about is not None:
        message["about"] = about
    return orjson.dumps(message).decode()


async def serve(
    websocket: WebSocket,
    switchboard: Switchboard,
    tokens: MeetingTokens,
    meeting_id: str,
    sfu: SfuRelay,
) -> None:
    await websocket.accept()
    try:
        connection = await _opened(websocket, switchboard, tokens, meeting_id, sfu)
        if connection is None:
            return
        try:
            await _converse(connection, switchboard, sfu)
        finally:
            switchboard.exit(connection.room)
    except BackendUnavailable as exc:
        _log.warning("signaling: a backend failed", error=str(exc))
        await close_socket(websocket, CLOSE_TRY_AGAIN_LATER, "signaling is unavailable; resume")


async def _opened(
    websocket: WebSocket,
    switchboard: Switchboard,
    tokens: MeetingTokens,
    meeting_id: str,
    sfu: SfuRelay,
) -> Connection | None:
    """The joined socket, or None once it was refused and closed. (The join and its token are
    not kept past this: they would be held for the socket's whole life.)"""
    admitted = await admit(
        websocket, parse=parse, join_type=Join, tokens=tokens, meeting_id=meeting_id,
        within=switchboard.settings.join_timeout_seconds, standings=switchboard.standings,
    )  # fmt: skip
    if admitted is None:
        return None
    join, token = admitted.join, admitted.token
    room = room_key(token.tenant_id, token.meeting_id, token.room)
    switchboard.enter(room)
    try:
        connection = await _admit(websocket, switchboard, token, join, room, sfu)
    except BaseException:
        switchboard.exit(room)
        await switchboard.forget(websocket)
        raise
    if connection is None:
        switchboard.exit(room)
    return connection


async def _admit(
    websocket: WebSocket,
    switchboard: Switchboard,
    token: MeetingToken,
    join: Join,
    room: str,
    sfu: SfuRelay,
) -> Connection | None:
    """Resume the session the join names, if it still can be, else add a new one; register
    its socket, send the join answer and what it missed, and tell the room."""
    settings, directory = switchboard.settings, switchboard.directory
    conn = secrets.token_urlsafe(9)
    resumed: Member | None = None
    replay: list[tuple[int, str]] = []
    if join.session_id is not None:
        old = await directory.member(room, join.session_id)
        if old is not None and old.participant_id == token.participant_id:
            ends = switchboard.expires_at(old, await directory.beats([old.replica]))
            if ends is not None and switchboard.clock() >= ends:
                await switchboard.end(room, old, "timeout")
            else:
                resumed, replay = await _resume(websocket, switchboard, room, old, conn, join)
    if resumed is not None:
        member = resumed
        connection = switchboard.local[member.session_id]
    else:
        member = Member(
            session_id=secrets.token_urlsafe(16), participant_id=token.participant_id,
            name=token.name, role=token.role, joined_at=switchboard.clock(),
            replica=switchboard.replica, conn=conn,
        )  # fmt: skip
        connection = _register(websocket, switchboard, room, member)
        if not await directory.add(room, member, settings.max_peers):
            del switchboard.local[member.session_id]
            await close_socket(websocket, CLOSE_ROOM_FULL, "The room is full.")
            return None
    connection.start()
    members = await directory.members(room)
    # The replay that follows the answer starts after the last message the client handled.
    last_seq = join.last_seq if resumed else 0
    answer = {
        "type": "joined",
        "session_id": member.session_id,
        "resumed": resumed is not None,
        "room": token.room,
        "participant": {
            "participant_id": token.participant_id, "name": token.name, "role": token.role,
            "grants": {k: getattr(token.grants, k) for k in
                       ("join", "publish", "subscribe", "admin", "record")},
        },
        "peers": [peer_view(member, p) for sid, p in members.items() if sid != member.session_id],
        "ice_servers": ice_servers(settings, token.participant_id, switchboard.clock()),
        "media": await sfu.media(token, member.session_id),
        "last_seq": last_seq,
        "ping_interval_ms": int(settings.ping_interval_seconds * 1000),
        "grace_ms": int(settings.grace_seconds * 1000),
        "limits": {
            "max_message_bytes": settings.max_message_bytes,
            "rate_per_second": settings.rate_per_second, "rate_burst": settings.rate_burst,
        },
    }  # fmt: skip
    connection.send(orjson.dumps(answer).decode())
    for seq, body in replay:
        connection.send(numbered(seq, body))
    connection.open_up(replay[-1][0] if replay else last_seq)
    if resumed is not None:
        reconnected = {"type": "peer.reconnected", "session_id": member.session_id}
        await switchboard.tell_room(room, member, lambda _: reconnected)
    else:
        await switchboard.tell_room(
            room, member, lambda other: {"type": "peer.joined", "peer": peer_view(other, member)}
        )
    return connection


def _register(
    websocket: WebSocket, switchboard: Switchboard, room: str, member: Member
) -> Connection:
    """The socket, known here before the directory names this replica for it: what is sent to
    it from then on is held until its join answer is out."""
    settings = switchboard.settings
    connection = Connection(
        websocket, room, member, queue_size=settings.outbox_size,
        rate_per_second=settings.rate_per_second, burst=settings.rate_burst,
    )  # fmt: skip
    switchboard.local[member.session_id] = connection
    return connection


async def _resume(
    websocket: WebSocket, switchboard: Switchboard, room: str, old: Member, conn: str, join: Join
) -> tuple[Member | None, list[tuple[int, str]]]:
    """Move the session to this socket (compare-and-set on its old socket), then read what it
    missed; None when it cannot be resumed (it then joins anew)."""
    directory = switchboard.directory
    previous = switchboard.local.get(old.session_id)
    new = old.back(switchboard.replica, conn)
    connection = _register(websocket, switchboard, room, new)
    if not await directory.swap(room, old.conn, new):
        _unregister(switchboard, connection)
        return None, []
    if previous is not None:
        previous.shut(CLOSE_REPLACED, "replaced: the session resumed on another socket")
    await switchboard.take_over(old)
    try:
        replay = await directory.since(old.session_id, join.last_seq)
    except Gap:
        _unregister(switchboard, connection)
        await switchboard.end(room, new, "resume-failed")
        return None, []
    return new, replay


def _unregister(switchboard: Switchboard, connection: Connection) -> None:
    if switchboard.local.get(connection.session_id) is connection:
        del switchboard.local[connection.session_id]


async def _converse(connection: Connection, switchboard: Switchboard, sfu: SfuRelay) -> None:
    """The client's messages until it leaves or its socket ends."""
    room = connection.room
    settings = switchboard.settings
    left = False
    try:
        while (text := await connection.next_text(settings.max_message_bytes)) is not None:
            try:
                message = parse(text)
                if isinstance(message, Leave):
                    left = True
                    await switchboard.end(room, connection.member, "left")
                    connection.shut(1000, "left")
                else:
                    await _handle(connection, switchboard, sfu, message)
            except ProtocolError as exc:
                connection.send(_error(exc.code, exc.detail))
    except (asyncio.CancelledError, WebSocketDisconnect):
        if connection.closing is None:
            raise
    finally:
        await connection.stop()
        _unregister(switchboard, connection)
        await sfu.release(connection)
        if left or connection.closing == CLOSE_REPLACED:
            sfu.forget(connection.session_id)
        if not left and connection.closing != CLOSE_REPLACED:
            await _went_away(switchboard, connection)


async def _went_away(switchboard: Switchboard, connection: Connection) -> None:
    """The socket dropped: the session waits out its grace window; the room is told."""
    member = connection.member
    away = member.away(switchboard.clock())
    with contextlib.suppress(BackendUnavailable):
        if await switchboard.directory.swap(connection.room, member.conn, away):
            disconnected = {"type": "peer.disconnected", "session_id": member.session_id}
            await switchboard.tell_room(connection.room, member, lambda _: disconnected)


async def _handle(
    connection: Connection, switchboard: Switchboard, sfu: SfuRelay, message: Any
) -> None:
    if isinstance(message, SfuMessage):
        await sfu.handle(connection, message)
        return
    if isinstance(message, Ping):
        connection.send(orjson.dumps({"type": "pong", "id": message.id}).decode())
        return
    if isinstance(message, Pong):
        connection.unanswered = 0
        if message.id == connection.ping_id:
            elapsed = time.monotonic() - connection.ping_sent_at
            connection.rtt_ms = round(elapsed * 1000, 1)
        return
    if isinstance(message, Join):
        raise ProtocolError("already-joined", "This socket has joined already.")
    me = connection.member
    relayed = {"type": message.type, "from": me.session_id,
               **message.model_dump(exclude={"type", "to"}, exclude_none=True)}  # fmt: skip
    if message.to == me.session_id or not await switchboard.relay(
        connection.room, message.to, relayed
    ):
        raise ProtocolError("peer-not-found", f"No peer {message.to!r} in this room.")
