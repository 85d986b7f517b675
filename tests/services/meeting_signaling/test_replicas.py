"""A room across two signaling processes on Redis (``v100 serve meeting_signaling`` twice):
peers on different replicas negotiate through it; one replica is killed (SIGKILL) mid-meeting,
its peer resumes on the other with its session and what it missed, and a peer that never comes
back is announced gone once the dead replica's heartbeat is stale and the grace has run."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from v100.kit.testing.bus import redis_url_or_skip
from v100.kit.testing.processes import V100Process

from .support import CANDIDATE, SDP, SECRET, Peer, mint

pytestmark = pytest.mark.slow


def _replica(tmp_path: Path, name: str, redis_url: str) -> V100Process:
    var = tmp_path / name
    env = {
        "V100_VAR_DIR": str(var),
        "V100_INTERNAL_TOKEN_SECRET": SECRET,
        "V100_REDIS_URL": redis_url,
        "V100_LOG_LEVEL": "WARNING",
        # The socket protocol alone (tokens of made-up meetings; ADR 0061).
        "V100_MEETING_SIGNALING_CHECK_STANDING": "false",
        "V100_MEETING_SIGNALING_DATABASE_URL": f"sqlite+aiosqlite:///{var}/signaling.db",
        "V100_MEETING_SIGNALING_GRACE_SECONDS": "4",
        "V100_MEETING_SIGNALING_SWEEP_INTERVAL_SECONDS": "0.2",
    }
    return V100Process("serve", "meeting_signaling", env=env, log=tmp_path / f"{name}.log")


async def test_a_replica_killed_mid_meeting(tmp_path: Path) -> None:
    redis_url = redis_url_or_skip()
    meeting = uuid.uuid4().hex
    first, second = _replica(tmp_path, "one", redis_url), _replica(tmp_path, "two", redis_url)
    async with first, second:
        on_first = first.url.replace("http://", "ws://") + "/v1/signaling/rooms/" + meeting
        on_second = second.url.replace("http://", "ws://") + "/v1/signaling/rooms/" + meeting
        ada_token = mint(meeting, "ada")
        ada = await Peer.join(on_first, ada_token)
        carol = await Peer.join(on_first, mint(meeting, "carol"))
        bob = await Peer.join(on_second, mint(meeting, "bob"))
        assert {p["participant_id"] for p in bob.joined["peers"]} == {"ada", "carol"}
        assert (await ada.next("peer.joined"))["peer"]["participant_id"] == "carol"
        assert (await ada.next("peer.joined"))["peer"]["participant_id"] == "bob"
        # Across replicas, both ways.
        await bob.send({"type": "offer", "to": ada.session_id, "sdp": SDP})
        assert (await ada.next("offer"))["from"] == bob.session_id
        await ada.send({"type": "answer", "to": bob.session_id, "sdp": SDP})
        assert (await bob.next("answer"))["from"] == ada.session_id
        handled = ada.last_seq

        await first.kill()
        killed_at = time.monotonic()
        assert (await ada.close_code())[0] in (None, 1006)
        await bob.send({"type": "candidate", "to": ada.session_id, "candidate": CANDIDATE})
        await bob.silent(0.3)

        again = await Peer.join(on_second, ada_token, session_id=ada.session_id, last_seq=handled)
        assert again.joined["resumed"] is True
        assert again.session_id == ada.session_id
        missed = await again.next()
        assert missed["type"] == "candidate"
        assert missed["seq"] == handled + 1
        assert (await bob.next())["type"] == "peer.reconnected"
        await bob.send({"type": "ice-restart", "to": again.session_id})
        assert (await again.next("ice-restart"))["from"] == bob.session_id

        # Carol never comes back: once the dead replica stopped beating and her grace ran out.
        left = await bob.next("peer.left", within=20)
        assert left["session_id"] == carol.session_id
        assert left["reason"] == "timeout"
        # (The grace counts from its last heartbeat, up to one sweep interval before the kill.)
        assert 3.5 <= time.monotonic() - killed_at < 15
        assert (await again.next("peer.left"))["session_id"] == carol.session_id
        for peer in (again, bob, carol):
            await peer.close()
