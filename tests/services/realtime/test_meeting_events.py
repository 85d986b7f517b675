"""The meeting service's live events (``meetings.live.{id}``) are relayed into the rooms'
streams, once however many replicas hold sockets of the room; a participant the meeting service
removed is no longer present; another tenant's event of the same meeting id is not relayed."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from v100.contracts.events import meeting_live_channel
from v100.kit.bus import Event, create_bus

from .conftest import Realtime
from .support import Client, mint

pytestmark = pytest.mark.time_sensitive


def _event(
    meeting: str, kind: str, sequence: int, tenant_id: str = "tenant-a", **data: Any
) -> Event:
    return Event(
        type=kind, source="meeting", tenant_id=tenant_id,
        data={"meeting_id": meeting, "sequence": sequence, "status": "live", **data},
    )  # fmt: skip


async def test_meeting_events_are_relayed_once(
    realtime: Realtime, platform: dict[str, Any]
) -> None:
    meeting = uuid.uuid4().hex
    bus = create_bus(platform.get("redis_url"))
    async with realtime() as first, realtime() as second:
        ada = await Client.join(first + meeting, mint(meeting, "ada"))
        bob = await Client.join(second + meeting, mint(meeting, "bob"))
        await ada.next("participant.joined")
        channel = meeting_live_channel(meeting)

        await bus.publish_ephemeral(channel, _event(meeting, "meeting.locked", 7).to_json())
        for client in (ada, bob):
            relayed = await client.next()
            assert relayed["type"] == "meeting.event"
            assert relayed["event"]["type"] == "meeting.locked"
            assert relayed["event"]["data"]["sequence"] == 7
        other = _event(meeting, "meeting.unlocked", 8, tenant_id="tenant-b")
        await bus.publish_ephemeral(channel, other.to_json())
        await ada.silent()

        bob_info = {"id": "bob", "name": "Bob", "role": "participant", "status": "removed",
                    "room": "main"}  # fmt: skip
        removed = _event(
            meeting, "meeting.participant.left", 9, participant=bob_info, reason="removed"
        )
        await bus.publish_ephemeral(channel, removed.to_json())
        for client in (ada, bob):
            assert (await client.next())["event"]["type"] == "meeting.participant.left"
            gone = await client.next()
            assert gone["type"] == "participant.left"
            assert (gone["participant_id"], gone["reason"]) == ("bob", "removed")
        # The same event again (a second publisher, a retry) adds nothing.
        await bus.publish_ephemeral(channel, removed.to_json())
        await ada.silent()
        for client in (ada, bob):
            await client.close()
    await bus.close()
