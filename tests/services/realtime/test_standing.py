"""Only admitted participants in their room reach a realtime room (ADR 0061): the real meeting
service is asked where a token's holder stands at every admission (a reconnect with ``since``
too), and a live event that takes someone out of a room reaches that socket before it is closed
(the page learns of its move from it). Embedded and distributed (Redis store and bus)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.meeting_service import meeting_service
from tests.support.meeting_service import refused_join as refused
from v100.kit.testing.net import free_port

from .conftest import Realtime
from .support import SECRET, Client

pytestmark = pytest.mark.time_sensitive


async def meeting_event(client: Client, kind: str) -> dict[str, Any]:
    while True:
        message = await client.next("meeting.event")
        if message["event"]["type"] == kind:
            return dict(message["event"])


async def test_waiting_is_refused_and_admitted_is_let_in(
    realtime: Realtime, platform: dict[str, Any], tmp_path: Path
) -> None:
    async with (
        meeting_service(tmp_path / "meeting", SECRET, platform) as meetings,
        realtime(meeting_url=meetings.url, check_standing=True) as rooms,
    ):
        mid = await meetings.create(waiting_room=True)
        host = await meetings.joined(mid, "Ada", role="host")
        bob = await meetings.joined(mid, "Bob")  # knocks
        code, reason = await refused(rooms + mid, bob.token)
        assert (code, reason.split(":")[0]) == (4403, "waiting")

        await meetings.room(mid, host, f"waiting/{bob.id}/admit")
        ada = await Client.join(rooms + mid, host.token)
        bob_client = await Client.join(rooms + mid, bob.token)
        assert set(bob_client.participants) == {host.id, bob.id}
        # Bob leaves the meeting (the room route): his socket closes, a reconnect is refused.
        await meetings.room(mid, bob, "leave")
        assert (await bob_client.close_code())[0] == 4403
        code, reason = await refused(rooms + mid, bob.token)
        assert (code, reason.split(":")[0]) == (4403, "not-joined")
        for client in (ada, bob_client):
            await client.close()


async def test_moved_removed_and_ended_lose_the_room(
    realtime: Realtime, platform: dict[str, Any], tmp_path: Path
) -> None:
    async with (
        meeting_service(tmp_path / "meeting", SECRET, platform) as meetings,
        realtime(meeting_url=meetings.url, check_standing=True) as rooms,
    ):
        mid = await meetings.create()
        host = await meetings.joined(mid, "Ada", role="host")
        bob = await meetings.joined(mid, "Bob")
        cy = await meetings.joined(mid, "Cy")
        ada = await Client.join(rooms + mid, host.token)
        bob_main = await Client.join(rooms + mid, bob.token)
        cy_main = await Client.join(rooms + mid, cy.token)

        red = (await meetings.room(mid, host, "breakouts", {"names": ["Red"]}))["items"][0]["id"]
        await meetings.room(mid, host, f"participants/{bob.id}/move", {"room": red})
        # The move reaches Bob's main socket, then it closes 4307.
        moved = await meeting_event(bob_main, "meeting.participant.moved")
        assert moved["data"]["participant"]["room"] == red
        assert (await bob_main.close_code())[0] == 4307
        gone = await ada.next("participant.left")
        assert (gone["participant_id"], gone["reason"]) == (bob.id, "moved")
        assert (await refused(rooms + mid, bob.token))[0] == 4307
        red_token = (await meetings.room(mid, bob, "token"))["token"]
        bob_red = await Client.join(rooms + mid, red_token)
        assert bob_red.joined["room"] == red

        await meetings.room(mid, host, f"participants/{cy.id}/remove")
        left = await meeting_event(cy_main, "meeting.participant.left")
        assert left["data"]["reason"] == "removed"
        code, reason = await cy_main.close_code()
        assert (code, reason.split(":")[0]) == (4403, "removed")
        assert (await refused(rooms + mid, cy.token))[0] == 4403

        await meetings.room(mid, host, "end")
        for client in (ada, bob_red):
            code, reason = await client.close_code()
            assert (code, reason.split(":")[0]) == (4403, "meeting-ended")
        assert (await refused(rooms + mid, host.token))[1].startswith("meeting-ended")
        for client in (ada, bob_main, cy_main, bob_red):
            await client.close()


async def test_meeting_service_down_is_try_again_later(
    realtime: Realtime, platform: dict[str, Any], tmp_path: Path
) -> None:
    async with meeting_service(tmp_path / "meeting", SECRET, platform) as meetings:
        mid = await meetings.create()
        ada = await meetings.joined(mid, "Ada")
    nowhere = f"http://127.0.0.1:{free_port()}"
    async with realtime(meeting_url=nowhere, check_standing=True) as rooms:
        code, reason = await refused(rooms + mid, ada.token)
    assert (code, reason.split(":")[0]) == (1013, "meeting-unavailable")
