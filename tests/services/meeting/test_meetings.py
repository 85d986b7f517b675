"""meeting through its API, on both backends: meetings and their states, tokens, joining, the
waiting room, locking, capacity, removal, breakout rooms, recordings, and the events with
their per-meeting sequence on the durable stream."""

from __future__ import annotations

import contextlib
import dataclasses
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from v100.contracts.events import MeetingEventData

from .conftest import Deploy, deployed, serving_recording_processor
from .support import Deployment, events_on_stream, new_tenant

# One service per stack for the module (``shared_meeting``), on the module's loop; each test
# acts for a tenant of its own. A test with settings of its own gets a service of its own on
# the module's stack.
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture
def deploy(
    shared_meeting: Deployment, module_stack: tuple[tuple[dict[str, Any], str], Path]
) -> Deploy:
    @contextlib.asynccontextmanager
    async def run(
        platform_overrides: dict[str, Any] | None = None, **overrides: Any
    ) -> AsyncIterator[Deployment]:
        if platform_overrides or overrides:
            stack, directory = module_stack
            async with deployed(stack, directory, platform_overrides, **overrides) as own:
                yield own
            return
        yield dataclasses.replace(shared_meeting, tenant=new_tenant())

    return run


@pytest_asyncio.fixture(loop_scope="module")
async def recording_processor(tmp_path: Path) -> AsyncIterator[str]:
    async with serving_recording_processor(tmp_path) as url:
        yield url


async def test_an_instant_meeting_is_live_and_a_scheduled_one_goes_live_on_first_join(
    deploy: Deploy,
) -> None:
    async with deploy() as service:
        instant = await service.create()
        assert instant["status"] == "live"
        assert instant["started_at"] is not None
        scheduled = await service.create(starts_at="2030-01-01T10:00:00Z")
        assert scheduled["status"] == "scheduled"
        await service.joined(scheduled["id"], role="host")
        got = await service.http.get(f"/v1/meetings/{scheduled['id']}", headers=service.headers())
        assert got.json()["status"] == "live"
        listed = await service.http.get(
            "/v1/meetings", params={"status": "scheduled"}, headers=service.headers()
        )
        assert listed.json()["items"] == []
        # Another tenant's meeting is not found.
        other = await service.http.get(
            f"/v1/meetings/{instant['id']}", headers=service.headers(tenant=str(uuid.uuid4()))
        )
        assert other.status_code == 404


async def test_create_is_idempotent(deploy: Deploy) -> None:
    async with deploy() as service:
        headers = service.headers(**{"Idempotency-Key": "k1"})
        first = await service.http.post("/v1/meetings", json={"title": "A"}, headers=headers)
        again = await service.http.post("/v1/meetings", json={"title": "A"}, headers=headers)
        assert first.json()["id"] == again.json()["id"]
        other = await service.http.post("/v1/meetings", json={"title": "B"}, headers=headers)
        assert other.status_code == 409


async def test_join_leave_are_idempotent_and_events_are_numbered(deploy: Deploy) -> None:
    async with deploy() as service:
        meeting = await service.create()
        ada = await service.token(meeting["id"], "Ada")
        assert ada["grants"] == {
            "join": True, "publish": True, "subscribe": True, "admin": False, "record": False
        }  # fmt: skip
        for _ in range(2):
            joined = await service.room(meeting["id"], ada["token"], "join")
            assert joined.status_code == 200
            assert joined.json()["status"] == "joined"
        for _ in range(2):
            left = await service.room(meeting["id"], ada["token"], "leave")
            assert left.json()["status"] == "left"
        rejoined = await service.room(meeting["id"], ada["token"], "join")
        assert rejoined.json()["status"] == "joined"
        ended = await service.http.post(
            f"/v1/meetings/{meeting['id']}/end", headers=service.headers()
        )
        assert ended.json()["status"] == "ended"
        events = await events_on_stream(service, meeting["id"], 6)
        kinds = [(e.type, MeetingEventData.model_validate(e.data).sequence) for e in events]
        assert kinds == [
            ("meeting.started", 1),
            ("meeting.participant.joined", 2),
            ("meeting.participant.left", 3),
            ("meeting.participant.joined", 4),
            ("meeting.participant.left", 5),
            ("meeting.ended", 6),
        ]
        assert events[-2].data["reason"] == "ended"
        assert ended.json()["event_sequence"] == 6
        refused = await service.room(meeting["id"], ada["token"], "join")
        assert refused.status_code == 409
        assert refused.json()["type"].endswith("/meeting-ended")


async def test_waiting_room_knock_admit_deny_admit_all(deploy: Deploy) -> None:
    async with deploy() as service:
        meeting = await service.create(waiting_room=True, max_participants=3)
        mid = meeting["id"]
        host = await service.joined(mid, "Host", role="host")
        guests = [await service.token(mid, f"Guest {n}") for n in range(4)]
        for guest in guests:
            knock = await service.room(mid, guest["token"], "join")
            assert knock.status_code == 202
            assert knock.json()["status"] == "waiting"
        # A guest cannot admit anyone.
        refused = await service.room(
            mid, guests[0]["token"], f"waiting/{guests[1]['participant_id']}/admit"
        )
        assert refused.status_code == 403
        assert refused.json()["type"].endswith("/grant-required")
        view = (await service.room(mid, host["token"], method="GET")).json()
        assert [p["name"] for p in view["waiting"]] == [g["name"] for g in guests]
        admitted = await service.room(
            mid, host["token"], f"waiting/{guests[0]['participant_id']}/admit"
        )
        assert admitted.json()["status"] == "joined"
        again = await service.room(
            mid, host["token"], f"waiting/{guests[0]['participant_id']}/admit"
        )
        assert again.status_code == 409
        assert again.json()["type"].endswith("/participant-not-waiting")
        denied = await service.room(
            mid, host["token"], f"waiting/{guests[1]['participant_id']}/deny"
        )
        assert denied.json()["status"] == "denied"
        turned_away = await service.room(mid, guests[1]["token"], "join")
        assert turned_away.status_code == 403
        # Room for one more (max 3: host and guest 0 are in).
        everyone = (await service.room(mid, host["token"], "waiting/admit-all")).json()
        assert [p["name"] for p in everyone["admitted"]] == ["Guest 2"]
        assert [p["name"] for p in everyone["still_waiting"]] == ["Guest 3"]
        full = await service.room(
            mid, host["token"], f"waiting/{guests[3]['participant_id']}/admit"
        )
        assert full.status_code == 409
        assert full.json()["type"].endswith("/meeting-full")
        events = await events_on_stream(service, mid, 12)
        types = [e.type for e in events]
        assert types.count("meeting.participant.admitted") == 2
        assert types.count("meeting.participant.denied") == 1
        sequences = [e.data["sequence"] for e in events]
        assert sequences == sorted(sequences)
        assert len(set(sequences)) == len(sequences)


async def test_a_full_or_locked_meeting_refuses_and_hosts_still_enter(deploy: Deploy) -> None:
    async with deploy() as service:
        meeting = await service.create(max_participants=1)
        mid = meeting["id"]
        host = await service.joined(mid, "Host", role="host")
        late = await service.token(mid, "Late")
        full = await service.room(mid, late["token"], "join")
        assert full.status_code == 409
        assert full.json()["type"].endswith("/meeting-full")
        await service.http.patch(
            f"/v1/meetings/{mid}", json={"max_participants": 5}, headers=service.headers()
        )
        locked = await service.room(mid, host["token"], "lock")
        assert locked.json()["locked"] is True
        refused = await service.room(mid, late["token"], "join")
        assert refused.status_code == 409
        assert refused.json()["type"].endswith("/meeting-locked")
        cohost = await service.token(mid, "Co", role="co-host")
        assert (await service.room(mid, cohost["token"], "join")).status_code == 200
        await service.room(mid, host["token"], "unlock")
        assert (await service.room(mid, late["token"], "join")).status_code == 200


async def test_a_removed_participants_token_is_refused_from_then_on(deploy: Deploy) -> None:
    async with deploy() as service:
        meeting = await service.create()
        mid = meeting["id"]
        host = await service.joined(mid, "Host", role="host")
        bob = await service.joined(mid, "Bob")
        muted = await service.room(
            mid, host["token"], f"participants/{bob['participant_id']}/mute", {"kind": "video"}
        )
        assert muted.status_code == 200
        removed = await service.room(
            mid, host["token"], f"participants/{bob['participant_id']}/remove"
        )
        assert removed.json()["status"] == "removed"
        for action in ("join", "leave"):
            answer = await service.room(mid, bob["token"], action)
            assert answer.status_code == 403
            assert answer.json()["type"].endswith("/participant-removed")
        listed = await service.http.get(
            f"/v1/meetings/{mid}/participants", params={"status": "removed"},
            headers=service.headers(),
        )  # fmt: skip
        assert [p["id"] for p in listed.json()["items"]] == [bob["participant_id"]]


async def test_breakout_rooms_assign_move_broadcast_close(deploy: Deploy) -> None:
    async with deploy() as service:
        meeting = await service.create()
        mid = meeting["id"]
        host = await service.joined(mid, "Host", role="host")
        ada, bob = await service.joined(mid, "Ada"), await service.joined(mid, "Bob")
        rooms = (
            await service.room(mid, host["token"], "breakouts", {"names": ["Red", "Blue"]})
        ).json()
        red, blue = rooms[0]["id"], rooms[1]["id"]
        assigned = await service.room(
            mid, host["token"], "breakouts/assign",
            {"assignments": {ada["participant_id"]: red, bob["participant_id"]: blue}},
        )  # fmt: skip
        assert [p["room"] for p in assigned.json()] == [red, blue]
        moved = await service.room(
            mid, host["token"], f"participants/{bob['participant_id']}/move", {"room": red}
        )
        assert moved.json()["room"] == red
        view = (await service.room(mid, ada["token"], method="GET")).json()
        by_name = {room["name"]: room["participant_ids"] for room in view["breakout_rooms"]}
        assert sorted(by_name["Red"]) == sorted([ada["participant_id"], bob["participant_id"]])
        assert view["waiting"] == []  # no admin grant: nobody's waiting list
        nowhere = await service.room(
            mid, host["token"], f"participants/{bob['participant_id']}/move", {"room": "nope"}
        )
        assert nowhere.status_code == 404
        said = await service.room(mid, host["token"], "breakouts/broadcast", {"message": "5 min"})
        assert said.status_code == 202
        back = (await service.room(mid, host["token"], "breakouts/close")).json()
        assert sorted(p["id"] for p in back) == sorted(
            [ada["participant_id"], bob["participant_id"]]
        )
        assert all(p["room"] == "main" for p in back)
        events = await events_on_stream(service, mid, 10)
        moves = [e for e in events if e.type == "meeting.participant.moved"]
        assert len(moves) == 5
        assert moves[-1].data["from_room"] == red
        assert moves[-1].data["participant"]["room"] == "main"


async def test_recordings_start_stop_list(deploy: Deploy, recording_processor: str) -> None:
    async with deploy(recording_processor_url=recording_processor) as service:
        meeting = await service.create()
        mid = meeting["id"]
        host = await service.joined(mid, "Host", role="host")
        guest = await service.joined(mid, "Guest")
        refused = await service.room(mid, guest["token"], "recordings")
        assert refused.status_code == 403
        started = await service.room(mid, host["token"], "recordings")
        assert started.status_code == 201
        assert started.json()["status"] == "recording"
        same = await service.room(mid, host["token"], "recordings")
        assert same.json()["id"] == started.json()["id"]
        rid = started.json()["id"]
        stopped = await service.room(mid, host["token"], f"recordings/{rid}/stop")
        assert stopped.json()["status"] == "stopped"
        twice = await service.room(mid, host["token"], f"recordings/{rid}/stop")
        assert twice.status_code == 409
        assert twice.json()["type"].endswith("/recording-not-active")
        listed = await service.http.get(f"/v1/meetings/{mid}/recordings", headers=service.headers())
        assert [r["id"] for r in listed.json()["items"]] == [rid]
        forbidden = await service.create(recording_allowed=False)
        fhost = await service.joined(forbidden["id"], "Host", role="host")
        nope = await service.room(forbidden["id"], fhost["token"], "recordings")
        assert nope.status_code == 409
        assert nope.json()["type"].endswith("/recording-not-allowed")
        events = await events_on_stream(service, mid, 9)
        recorded = [e.type for e in events if e.data.get("recording_id") == rid]
        assert recorded == ["meeting.recording.started", "meeting.recording.stopped"]
