"""``kit.room_admission``'s standing rules and ``Standings``' short memory (ADR 0061): what
each standing refuses with, an answer that lets in kept for its few seconds and asked once
however many sockets arrive together, a refusal never kept, a live event (``forget``) dropping
what is kept, and an answer asked before a ``forget`` not kept after it. The lookup here is the
meeting service's standing as data (in-process: the HTTP route has its own tests)."""

from __future__ import annotations

import asyncio
import time

from v100.contracts.events import MeetingEventData, MeetingParticipantInfo
from v100.contracts.meeting_tokens import MeetingGrants, MeetingToken
from v100.contracts.meetings import ParticipantStanding
from v100.kit.room_admission import Standings, loses_room, refusal

TOKEN = MeetingToken(
    tenant_id="t", meeting_id="m", participant_id="p", name="Ada", role="participant",
    grants=MeetingGrants(), expires_at=int(time.time()) + 60, token_id="jti-1",
)  # fmt: skip


def standing(**changes: str) -> ParticipantStanding:
    fields = {"meeting_id": "m", "participant_id": "p", "token_id": "jti-1", "status": "joined",
              "room": "main", "meeting_status": "live"} | changes  # fmt: skip
    return ParticipantStanding.model_validate(fields)


def test_each_standing_is_refused_with_its_code() -> None:
    assert refusal(TOKEN, standing()) is None
    assert refusal(TOKEN, None) == (4403, "not-a-participant: the meeting has no such participant")
    assert refusal(TOKEN, standing(token_id="other"))[0] == 4401  # type: ignore[index]
    for status in ("invited", "waiting", "left", "denied", "removed"):
        code, reason = refusal(TOKEN, standing(status=status)) or (0, "")
        assert code == 4403, status
        assert reason, status
    assert refusal(TOKEN, standing(meeting_status="ended"))[0] == 4403  # type: ignore[index]
    assert refusal(TOKEN, standing(room="red"))[0] == 4307  # type: ignore[index]


def test_live_events_say_who_loses_which_room() -> None:
    def data(room: str = "main", reason: str | None = None) -> MeetingEventData:
        who = MeetingParticipantInfo(id="p", name="Ada", role="participant", status="joined",
                                     room=room)  # fmt: skip
        return MeetingEventData(meeting_id="m", sequence=1, status="live", participant=who,
                                reason=reason)  # fmt: skip

    moved = loses_room("meeting.participant.moved", data(room="red"))
    assert moved is not None
    assert moved.code == 4307
    assert moved.closes("p", "main")
    assert not moved.closes("p", "red")
    assert not moved.closes("q", "main")
    removed = loses_room("meeting.participant.left", data(reason="removed"))
    assert removed is not None
    assert removed.closes("p", "red")
    assert removed.code == 4403
    ended = loses_room(
        "meeting.ended", MeetingEventData(meeting_id="m", sequence=2, status="ended")
    )
    assert ended is not None
    assert ended.closes("anyone", "any room")
    assert loses_room("meeting.participant.joined", data()) is None
    assert loses_room("meeting.locked", data()) is None


async def test_kept_briefly_asked_once_forgotten_on_events() -> None:
    asked: list[str] = []
    answer = standing()
    gate = asyncio.Event()
    now = [100.0]

    async def lookup(tenant: str, meeting: str, participant: str) -> ParticipantStanding | None:
        asked.append(participant)
        await gate.wait()
        return answer

    standings = Standings(lookup, keep_seconds=2.0, clock=lambda: now[0])
    together = [asyncio.create_task(standings.of(TOKEN)) for _ in range(20)]
    await asyncio.sleep(0)
    gate.set()
    assert all(s == answer for s in await asyncio.gather(*together))
    assert len(asked) == 1  # twenty sockets, one question
    await standings.of(TOKEN)
    assert len(asked) == 1  # kept
    now[0] += 2.5
    await standings.of(TOKEN)
    assert len(asked) == 2  # its time ran out

    standings.forget("t", "m", "p")
    await standings.of(TOKEN)
    assert len(asked) == 3  # an event dropped it
    standings.forget("t", "m", None)  # the whole meeting
    await standings.of(TOKEN)
    assert len(asked) == 4

    # A refusal is not kept: an admission counts at once.
    standings.forget("t", "m", "p")
    answer = standing(status="waiting")
    await standings.of(TOKEN)
    await standings.of(TOKEN)
    assert len(asked) == 6

    # An answer asked before a forget is not kept after it.
    answer = standing()
    gate.clear()
    pending = asyncio.create_task(standings.of(TOKEN))
    await asyncio.sleep(0)
    standings.forget("t", "m", "p")
    gate.set()
    await pending
    gate.set()
    await standings.of(TOKEN)
    assert len(asked) == 8
