"""Network loss: a dropped socket resumed within the grace window keeps its session and gets
what it missed, in order, while its peers hear ``peer.disconnected`` then
``peer.reconnected`` (never left and joined); past the window it is a new join and the room
heard ``peer.left``; a peer that stops answering pings is taken for gone; a resume while the old
socket is still open replaces it."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from v100.kit.testing.servers import serving
from v100.services.meeting_signaling.app import create_app
from v100.services.meeting_signaling.directory import Member, room_key
from v100.services.meeting_signaling.switchboard import Switchboard

from .conftest import Signaling, settings_for
from .support import CANDIDATE, SDP, Peer, mint

pytestmark = pytest.mark.time_sensitive


async def test_a_dropped_socket_resumes_with_what_it_missed(signaling: Signaling) -> None:
    meeting = uuid.uuid4().hex
    async with signaling(grace_seconds=5) as rooms:
        url = rooms + meeting
        ada_token = mint(meeting, "ada")
        ada = await Peer.join(url, ada_token)
        bob = await Peer.join(url, mint(meeting, "bob"))
        await ada.next("peer.joined")
        await bob.send({"type": "offer", "to": ada.session_id, "sdp": SDP})
        await ada.next("offer")
        handled = ada.last_seq

        await ada.drop()
        assert (await bob.next("peer.disconnected"))["session_id"] == ada.session_id
        # Bob goes on negotiating while Ada is away: it waits in her outbox.
        await bob.send({"type": "offer", "to": ada.session_id, "sdp": SDP + "a=ice-restart\r\n"})
        for n in range(3):
            candidate = {**CANDIDATE, "candidate": f"{CANDIDATE['candidate']} generation {n}"}
            await bob.send({"type": "candidate", "to": ada.session_id, "candidate": candidate})
        await bob.silent(0.3)  # the sends were taken (an error would have come back)

        again = await Peer.join(url, ada_token, session_id=ada.session_id, last_seq=handled)
        assert again.joined["resumed"] is True
        assert again.session_id == ada.session_id
        assert [p["session_id"] for p in again.joined["peers"]] == [bob.session_id]
        missed = [await again.next() for _ in range(4)]
        assert [m["type"] for m in missed] == ["offer", "candidate", "candidate", "candidate"]
        assert [m["seq"] for m in missed] == list(range(handled + 1, handled + 5))
        assert missed[1]["candidate"]["candidate"].endswith("generation 0")
        reconnected = await bob.next()
        assert reconnected["type"] == "peer.reconnected"
        assert reconnected["session_id"] == ada.session_id
        # And the session works on: new messages carry on the numbering.
        await bob.send({"type": "answer", "to": ada.session_id, "sdp": SDP})
        assert (await again.next("answer"))["seq"] == handled + 5
        await bob.silent(0.3)  # no peer.left, no peer.joined
        for peer in (again, bob):
            await peer.close()


async def test_past_the_grace_window_it_is_a_new_join(signaling: Signaling) -> None:
    meeting = uuid.uuid4().hex
    async with signaling(grace_seconds=0.6, sweep_interval_seconds=0.1) as rooms:
        url = rooms + meeting
        ada_token = mint(meeting, "ada")
        ada = await Peer.join(url, ada_token)
        bob = await Peer.join(url, mint(meeting, "bob"))
        await ada.drop()
        await bob.next("peer.disconnected")
        left = await bob.next("peer.left", within=5)
        assert left == {**left, "session_id": ada.session_id, "reason": "timeout"}
        again = await Peer.join(url, ada_token, session_id=ada.session_id, last_seq=1)
        assert again.joined["resumed"] is False
        assert again.session_id != ada.session_id
        assert (await bob.next("peer.joined"))["peer"]["session_id"] == again.session_id
        for peer in (again, bob):
            await peer.close()


async def test_a_peer_that_stops_answering_is_taken_for_gone(signaling: Signaling) -> None:
    meeting = uuid.uuid4().hex
    async with signaling(
        ping_interval_seconds=0.1, missed_pings=3, grace_seconds=0.5, sweep_interval_seconds=0.1
    ) as rooms:
        url = rooms + meeting
        ada = await Peer.join(url, mint(meeting), answer_pings=False)
        bob = await Peer.join(url, mint(meeting))
        assert await ada.close_code() == (4504, "ping timeout")
        assert (await bob.next("peer.disconnected"))["session_id"] == ada.session_id
        assert (await bob.next("peer.left", within=5))["reason"] == "timeout"
        await bob.close()


async def test_a_resume_replaces_a_socket_still_open(signaling: Signaling) -> None:
    meeting = uuid.uuid4().hex
    async with signaling() as rooms:
        url = rooms + meeting
        ada_token = mint(meeting, "ada")
        ada = await Peer.join(url, ada_token)
        bob = await Peer.join(url, mint(meeting, "bob"))
        await ada.next("peer.joined")
        # Ada's client thinks the old socket is dead (it is not yet): it resumes.
        again = await Peer.join(url, ada_token, session_id=ada.session_id, last_seq=ada.last_seq)
        assert again.joined["resumed"] is True
        assert await ada.close_code() == (4409, "replaced: the session resumed on another socket")
        assert (await bob.next())["type"] == "peer.reconnected"
        await bob.send({"type": "offer", "to": again.session_id, "sdp": SDP})
        assert (await again.next("offer"))["from"] == bob.session_id
        await asyncio.sleep(0.2)
        await bob.silent(0.3)  # no peer.disconnected from the replaced socket
        for peer in (again, bob):
            await peer.close()


async def test_a_session_left_without_a_socket_is_ended(
    platform: dict[str, Any], tmp_path: Path
) -> None:
    """An admission that failed half-way (a backend error) leaves the session named as held
    by this replica with no socket: the sweep starts its grace, and the room hears it left."""
    meeting = uuid.uuid4().hex
    app = create_app(
        settings_for(platform, tmp_path, grace_seconds=0.5, sweep_interval_seconds=0.1)
    )
    async with serving(app, ready=True) as url:
        rooms = url.replace("http://", "ws://") + "/v1/signaling/rooms/"
        bob = await Peer.join(rooms + meeting, mint(meeting, "bob"))
        switchboard = app.state.runtime.get(Switchboard)
        ghost = Member(
            session_id="ghost", participant_id="ghost", name="Ghost", role="participant",
            joined_at=time.time(), replica=switchboard.replica, conn="none",
        )  # fmt: skip
        room = room_key("tenant-a", meeting, "main")
        assert await switchboard.directory.add(room, ghost, 10)
        left = await bob.next("peer.left", within=5)
        assert left["session_id"] == "ghost"
        assert left["reason"] == "timeout"
        assert await switchboard.directory.member(room, "ghost") is None
        await bob.close()
