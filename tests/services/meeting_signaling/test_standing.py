"""Only admitted participants in their room reach a signaling room (ADR 0061): the real
meeting service is asked where a token's holder stands at every admission, and its live events
close the sockets of those it takes out of a room. Embedded and distributed (Redis directory
and bus; meeting on the same bus)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.meeting_service import meeting_service
from tests.support.meeting_service import refused_join as refused
from v100.kit.testing.net import free_port

from .conftest import Signaling
from .support import SECRET, Peer

pytestmark = pytest.mark.time_sensitive


async def test_waiting_is_refused_and_admitted_is_let_in(
    signaling: Signaling, platform: dict[str, Any], tmp_path: Path
) -> None:
    async with (
        meeting_service(tmp_path / "meeting", SECRET, platform) as meetings,
        signaling(meeting_url=meetings.url, check_standing=True) as rooms,
    ):
        mid = await meetings.create(waiting_room=True)
        host = await meetings.joined(mid, "Ada", role="host")
        bob = await meetings.joined(mid, "Bob")  # knocks
        code, reason = await refused(rooms + mid, bob.token)
        assert (code, reason.split(":")[0]) == (4403, "waiting")
        invited = await meetings.invited(mid, "Cy")  # never joined
        assert (await refused(rooms + mid, invited.token))[0] == 4403

        await meetings.room(mid, host, f"waiting/{bob.id}/admit")
        ada = await Peer.join(rooms + mid, host.token)
        bob_peer = await Peer.join(rooms + mid, bob.token)
        assert (await ada.next("peer.joined"))["peer"]["participant_id"] == bob.id

        # Denied: refused; a token for another meeting of the tenant: refused.
        dan = await meetings.joined(mid, "Dan")
        await meetings.room(mid, host, f"waiting/{dan.id}/deny")
        assert await refused(rooms + mid, dan.token) == (
            4403, "denied: the host turned this participant away",
        )  # fmt: skip
        other = await meetings.create()
        assert (await refused(rooms + other, bob.token))[0] == 4403
        for peer in (ada, bob_peer):
            await peer.close()


async def test_moved_removed_and_ended_lose_the_room(
    signaling: Signaling, platform: dict[str, Any], tmp_path: Path
) -> None:
    async with (
        meeting_service(tmp_path / "meeting", SECRET, platform) as meetings,
        signaling(meeting_url=meetings.url, check_standing=True) as rooms,
    ):
        mid = await meetings.create()
        host = await meetings.joined(mid, "Ada", role="host")
        bob = await meetings.joined(mid, "Bob")
        cy = await meetings.joined(mid, "Cy")
        ada = await Peer.join(rooms + mid, host.token)
        bob_main = await Peer.join(rooms + mid, bob.token)
        cy_main = await Peer.join(rooms + mid, cy.token)

        # Bob moves to a breakout room: his main socket closes 4307, the room is told.
        red = (await meetings.room(mid, host, "breakouts", {"names": ["Red"]}))["items"][0]["id"]
        await meetings.room(mid, host, f"participants/{bob.id}/move", {"room": red})
        code, _ = await bob_main.close_code()
        assert code == 4307
        left = await ada.next("peer.left")
        assert (left["session_id"], left["reason"]) == (bob_main.session_id, "moved")
        # His main token no longer enters main; his room token enters the breakout room.
        assert (await refused(rooms + mid, bob.token))[0] == 4307
        red_token = (await meetings.room(mid, bob, "token"))["token"]
        bob_red = await Peer.join(rooms + mid, red_token)
        assert bob_red.joined["room"] == red
        assert bob_red.joined["peers"] == []

        # Cy is removed: closed 4403, and refused from then on (a resume too).
        await meetings.room(mid, host, f"participants/{cy.id}/remove")
        code, reason = await cy_main.close_code()
        assert (code, reason.split(":")[0]) == (4403, "removed")
        assert (await refused(rooms + mid, cy.token))[0] == 4403

        # The meeting ends: every socket closes 4403, and nobody enters again.
        await meetings.room(mid, host, "end")
        for peer in (ada, bob_red):
            code, reason = await peer.close_code()
            assert (code, reason.split(":")[0]) == (4403, "meeting-ended")
        assert (await refused(rooms + mid, host.token))[1].startswith("meeting-ended")
        for peer in (ada, bob_main, cy_main, bob_red):
            await peer.close()


async def test_meeting_service_down_is_try_again_later(
    signaling: Signaling, platform: dict[str, Any], tmp_path: Path
) -> None:
    async with meeting_service(tmp_path / "meeting", SECRET, platform) as meetings:
        mid = await meetings.create()
        ada = await meetings.joined(mid, "Ada")
    # Nothing listens there now: admission fails closed, retryable.
    nowhere = f"http://127.0.0.1:{free_port()}"
    async with signaling(meeting_url=nowhere, check_standing=True) as rooms:
        code, reason = await refused(rooms + mid, ada.token)
    assert (code, reason.split(":")[0]) == (1013, "meeting-unavailable")
