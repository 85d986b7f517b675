"""One realtime socket from its join to its end: let in by ``kit.room_admission`` (the meeting
token checked; close 4400/4401/4403/4408), the socket entered into its room here, the
participant's presence refreshed (joined if it was not present), the join answer (a snapshot of
the room, or on a reconnect with ``since`` what it missed), then the client's state changes,
heartbeats and leave until the socket ends. A socket that drops without ``leave`` leaves its
presence to expire unless the client comes back."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.websockets import WebSocket, WebSocketDisconnect

from v100.contracts.meeting_tokens import MeetingTokens
from v100.kit.errors import BackendUnavailable
from v100.kit.observability import get_logger
from v100.kit.room_admission import CLOSE_TRY_AGAIN_LATER, admit, close_socket
from v100.kit.room_socket import error_message
from v100.services.realtime.connection import Connection, numbered
from v100.services.realtime.hub import Hub
from v100.services.realtime.protocol import (
    Chat,
    Heartbeat,
    Join,
    Leave,
    ProtocolError,
    State,
    parse,
)
from v100.services.realtime.store import Entry, Gap, Room, chat, entry

__all__ = ["serve"]

_log = get_logger("v100.realtime")


def _now_iso(hub: Hub) -> str:
    return datetime.fromtimestamp(hub.clock(), UTC).isoformat()


async def serve(websocket: WebSocket, hub: Hub, tokens: MeetingTokens, meeting_id: str) -> None:
    await websocket.accept()
    admitted = await admit(
        websocket, parse=parse, join_type=Join, tokens=tokens, meeting_id=meeting_id,
        within=hub.settings.join_timeout_seconds, standings=hub.standings,
    )  # fmt: skip
    if admitted is None:
        return
    join, token = admitted.join, admitted.token
    room = Room(token.tenant_id, token.meeting_id, token.room)
    settings = hub.settings
    connection = Connection(
        websocket, room, token.participant_id, queue_size=settings.queue_size,
        rate_per_second=settings.rate_per_second, burst=settings.rate_burst,
    )  # fmt: skip
    try:
        try:
            await hub.enter(room, connection)
            me = entry(token.participant_id, token.name, token.role)
            await _answer(connection, hub, me, join.since)
            await _converse(connection, hub, me)
        finally:
            await connection.stop()
            await hub.exit(connection)
    except BackendUnavailable as exc:
        _log.warning("realtime: a backend failed", error=str(exc))
        await close_socket(websocket, CLOSE_TRY_AGAIN_LATER, "realtime is unavailable; reconnect")


async def _answer(connection: Connection, hub: Hub, me: Entry, since: int | None) -> None:
    """Presence refreshed, then the join answer: what the client missed since ``since`` if the
    room's log still holds it, else a snapshot of the room."""
    room, store = connection.room, hub.store
    await hub.publish(room, await store.expire(room.key, hub.clock()))
    await hub.publish(room, await store.join(room.key, me, hub.expires_at()))
    answer: dict[str, Any] = {
        "type": "joined",
        "participant_id": me["participant_id"],
        "room": room.name,
        "heartbeat_interval_ms": int(hub.settings.heartbeat_interval_seconds * 1000),
    }
    missed: list[tuple[int, str]] | None = None
    if since is not None:
        with contextlib.suppress(Gap):
            missed = await store.since(room.key, since)
    if missed is None:
        seq, participants = await store.snapshot(room.key)
        answer |= {"resumed": False, "seq": seq, "participants": participants}
        connection.send(orjson.dumps(answer).decode())
        connection.open_up(seq)
        return
    assert since is not None
    connection.send(orjson.dumps(answer | {"resumed": True, "seq": since}).decode())
    for seq, body in missed:
        connection.send(numbered(seq, body))
    connection.open_up(missed[-1][0] if missed else since)


async def _converse(connection: Connection, hub: Hub, me: Entry) -> None:
    """The client's messages until it leaves or its socket ends."""
    room, store = connection.room, hub.store
    limit = hub.settings.max_message_bytes
    try:
        while (text := await connection.next_text(limit)) is not None:
            try:
                message = parse(text)
            except ProtocolError as exc:
                connection.send(error_message(exc.code, exc.detail))
                continue
            pid = connection.participant_id
            if isinstance(message, Join):
                connection.send(error_message("already-joined", "This socket has joined already."))
            elif isinstance(message, Heartbeat):
                # A participant expired meanwhile (a long stall) is present again.
                await hub.publish(room, await store.join(room.key, me, hub.expires_at()))
            elif isinstance(message, State):
                await hub.publish(room, await store.update(room.key, pid, message.changes()))
            elif isinstance(message, Chat):
                said = chat(pid, me["name"], message.text, _now_iso(hub))
                await hub.publish(room, await store.say(room.key, said))
            elif isinstance(message, Leave):
                await hub.publish(room, await store.leave(room.key, pid, "left"))
                connection.shut(1000, "left")
    except WebSocketDisconnect:
        return
    except asyncio.CancelledError:
        if connection.closing is None:  # not a socket given up on after a close from here
            raise
