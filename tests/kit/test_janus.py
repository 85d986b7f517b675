"""kit.janus against the real Janus (scripts/services/janus.sh): sessions, the VideoRoom's rooms
made, found and destroyed with their secret, and the errors Janus answers."""

from __future__ import annotations

import asyncio
import logging

import pytest

from v100.kit.janus import VIDEOROOM, Janus, JanusError, JanusUnavailable, VideoRooms, video_room
from v100.kit.testing.janus import JanusServer, janus_server
from v100.kit.testing.net import free_port

__all__ = ["janus_server"]


def test_rooms_are_named_alike_by_every_service_and_apart_by_room() -> None:
    a = video_room("installation-secret", "t1/m1/main")
    assert a == video_room("installation-secret", "t1/m1/main")
    assert a.number < 2**48
    others = {video_room("installation-secret", "t1/m1/b1"), video_room("other", "t1/m1/main")}
    assert all(o.number != a.number and o.secret != a.secret and o.pin != a.pin for o in others)


def test_the_secret_is_blanked_from_httpx_lines_that_still_format() -> None:
    """httpx logs the long-poll's URL with ``apisecret``; the line loses the secret and keeps its
    other arguments' types (a status code formatted as text would fail, and under pytest's log
    capture the failure raised inside the poll and stopped it)."""
    record = logging.LogRecord(
        "httpx", logging.INFO, __file__, 1, 'HTTP Request: %s %s "%s %d %s"',
        ("GET", "http://127.0.0.1:1/janus/7?maxev=10&apisecret=s3cret", "HTTP/1.1", 200, "OK"),
        None,
    )  # fmt: skip
    for kept in logging.getLogger("httpx").filters:
        kept.filter(record)
    assert record.getMessage() == (
        'HTTP Request: GET http://127.0.0.1:1/janus/7?maxev=10&apisecret=*** "HTTP/1.1 200 OK"'
    )


async def test_a_room_is_made_found_and_destroyed(janus_server: JanusServer) -> None:
    janus = Janus(janus_server.url, janus_server.secret)
    rooms = VideoRooms(janus, janus_server.secret)
    room = video_room("secret-of-this-test", f"t/{id(janus)}/main")
    try:
        assert not await rooms.exists(room)
        assert await rooms.create(room, publishers=6) is True
        assert await rooms.create(room, publishers=6) is False  # already there
        assert await rooms.exists(room)
        # A peer's handle sees it only with its pin.
        session = await janus.session()
        handle = await session.attach(VIDEOROOM)
        with pytest.raises(JanusError) as refused:
            await handle.message(
                {"request": "join", "ptype": "publisher", "room": room.number, "pin": "wrong"}
            )
        assert refused.value.code == 433  # JANUS_VIDEOROOM_ERROR_UNAUTHORIZED
        joined = await handle.message(
            {"request": "join", "ptype": "publisher", "room": room.number, "pin": room.pin}
        )
        assert joined.data["videoroom"] == "joined"
        assert joined.data["publishers"] == []
        # Destroying needs the room's secret.
        with pytest.raises(JanusError):
            await handle.message({"request": "destroy", "room": room.number, "secret": "no"})
        assert await rooms.destroy(room) is True
        destroyed = await asyncio.wait_for(handle.events.get(), 10)
        assert destroyed.data.get("videoroom") == "destroyed"
        assert await rooms.destroy(room) is False
        assert not await rooms.exists(room)
        await session.destroy()
    finally:
        await rooms.close()
        await janus.close()


async def test_a_wrong_secret_and_a_lost_session_are_errors(janus_server: JanusServer) -> None:
    janus = Janus(janus_server.url, "not-the-secret")
    try:
        with pytest.raises(JanusError) as refused:
            await janus.session()
        assert refused.value.code == 403  # JANUS_ERROR_UNAUTHORIZED
    finally:
        await janus.close()
    janus = Janus(janus_server.url, janus_server.secret)
    try:
        session = await janus.session()
        await session.destroy()
        with pytest.raises(JanusError) as gone:
            await janus.post(f"/{session.id}", {"janus": "attach", "plugin": VIDEOROOM})
        assert gone.value.code == 458  # JANUS_ERROR_SESSION_NOT_FOUND
        assert (await janus.info())["janus"] == "server_info"
    finally:
        await janus.close()


async def test_janus_stopped_is_unavailable() -> None:
    janus = Janus(f"http://127.0.0.1:{free_port()}/janus", None, timeout=2)
    try:
        with pytest.raises(JanusUnavailable):
            await janus.session()
    finally:
        await janus.close()
