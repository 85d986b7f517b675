"""The participants' endpoints under ``/v1/meetings/{meeting_id}/room``: each acts with a
meeting token (``Authorization: Bearer <meeting token>``) that the service checks itself
(deps.get_caller; docs/adr/0051): join or knock, leave, see the room; with the admin grant the
waiting room, locking, mute requests, removal, breakout rooms and ending the meeting; with the
record grant the recording's start and stop. Thin: call the domain, shape."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import JSONResponse

from v100.kit.http import SessionDep
from v100.services.meeting.deps import BreakoutsDep, CallerDep, RecordingsDep, RoomDep, TokensDep
from v100.services.meeting.schemas import (
    AdmitAllOut,
    AssignmentsIn,
    BreakoutRoomOut,
    BreakoutRoomsIn,
    BroadcastIn,
    MeetingOut,
    MoveIn,
    MuteIn,
    ParticipantOut,
    RecordingOut,
    RoomOut,
    RoomTokenOut,
)
from v100.services.meeting.shapes import (
    breakout_out,
    meeting_out,
    participant_out,
    recording_out,
)

__all__ = ["ROOM_PATH", "room_router"]

ROOM_PATH = "/v1/meetings/{meeting_id}/room"
room_router = APIRouter(prefix=ROOM_PATH, tags=["meeting room"])


@room_router.post(
    "/join",
    response_model=ParticipantOut,
    responses={202: {"model": ParticipantOut, "description": "Waiting to be admitted."}},
)
async def join(room: RoomDep, caller: CallerDep, session: SessionDep) -> JSONResponse:
    """Enter the meeting (200), or knock at its waiting room (202); again while in: the same."""
    me = await room.join(session, caller)
    status = 202 if me.status == "waiting" else 200
    return JSONResponse(participant_out(me).model_dump(mode="json"), status_code=status)


@room_router.post("/leave", response_model=ParticipantOut)
async def leave(room: RoomDep, caller: CallerDep, session: SessionDep) -> ParticipantOut:
    """Leave the meeting (or the waiting room); again: the same."""
    return participant_out(await room.leave(session, caller))


@room_router.get("", response_model=RoomOut)
async def see_room(room: RoomDep, caller: CallerDep, session: SessionDep) -> RoomOut:
    """The meeting as its participant sees it: who is in, who waits (admin), rooms, recordings."""
    view = await room.view(session, caller)
    return RoomOut(
        meeting=meeting_out(view.meeting),
        me=participant_out(view.me),
        participants=[participant_out(p) for p in view.participants],
        waiting=[participant_out(p) for p in view.waiting],
        breakout_rooms=[breakout_out(r, view.participants) for r in view.breakout_rooms],
        recordings=[recording_out(r) for r in view.recordings],
    )


@room_router.post("/token", response_model=RoomTokenOut)
async def room_token(
    room: RoomDep, caller: CallerDep, tokens: TokensDep, session: SessionDep
) -> RoomTokenOut:
    """The caller's meeting token for the room it is in now (after a move to a breakout room)."""
    token, me = await room.room_token(session, caller, tokens)
    return RoomTokenOut(token=token, room=me.room, expires_at=me.token_expires_at)


@room_router.post("/waiting/{participant_id}/admit", response_model=ParticipantOut)
async def admit(
    participant_id: str, room: RoomDep, caller: CallerDep, session: SessionDep
) -> ParticipantOut:
    """Let a waiting participant in (admin grant)."""
    return participant_out(await room.admit(session, caller, participant_id))


@room_router.post("/waiting/{participant_id}/deny", response_model=ParticipantOut)
async def deny(
    participant_id: str, room: RoomDep, caller: CallerDep, session: SessionDep
) -> ParticipantOut:
    """Turn a waiting participant away (admin grant); its token no longer joins."""
    return participant_out(await room.deny(session, caller, participant_id))


@room_router.post("/waiting/admit-all", response_model=AdmitAllOut)
async def admit_all(room: RoomDep, caller: CallerDep, session: SessionDep) -> AdmitAllOut:
    """Let everyone waiting in while there is space (admin grant)."""
    admitted, waiting = await room.admit_all(session, caller)
    return AdmitAllOut(
        admitted=[participant_out(p) for p in admitted],
        still_waiting=[participant_out(p) for p in waiting],
    )


@room_router.post("/lock", response_model=MeetingOut)
async def lock(room: RoomDep, caller: CallerDep, session: SessionDep) -> MeetingOut:
    """Lock the meeting: only hosts and co-hosts enter from now on (admin grant)."""
    return meeting_out(await room.set_locked(session, caller, True))


@room_router.post("/unlock", response_model=MeetingOut)
async def unlock(room: RoomDep, caller: CallerDep, session: SessionDep) -> MeetingOut:
    """Unlock the meeting (admin grant)."""
    return meeting_out(await room.set_locked(session, caller, False))


@room_router.post("/end", response_model=MeetingOut)
async def end(room: RoomDep, caller: CallerDep, session: SessionDep) -> MeetingOut:
    """End the meeting for everyone (admin grant)."""
    return meeting_out(await room.end(session, caller))


@room_router.post("/participants/{participant_id}/mute", response_model=ParticipantOut)
async def request_mute(
    participant_id: str, body: MuteIn, room: RoomDep, caller: CallerDep, session: SessionDep
) -> ParticipantOut:
    """Ask a participant to mute its microphone or camera (admin grant)."""
    return participant_out(await room.request_mute(session, caller, participant_id, body.kind))


@room_router.post("/participants/{participant_id}/remove", response_model=ParticipantOut)
async def remove(
    participant_id: str, room: RoomDep, caller: CallerDep, session: SessionDep
) -> ParticipantOut:
    """Remove a participant; its token is refused from then on (admin grant)."""
    return participant_out(await room.remove(session, caller, participant_id))


@room_router.post("/participants/{participant_id}/move", response_model=ParticipantOut)
async def move(
    participant_id: str,
    body: MoveIn,
    breakouts: BreakoutsDep,
    caller: CallerDep,
    session: SessionDep,
) -> ParticipantOut:
    """Move a participant to a breakout room or back to "main" (admin grant)."""
    return participant_out(await breakouts.move(session, caller, participant_id, body.room))


@room_router.post("/breakouts", status_code=201, response_model=list[BreakoutRoomOut])
async def open_breakouts(
    body: BreakoutRoomsIn, breakouts: BreakoutsDep, caller: CallerDep, session: SessionDep
) -> list[BreakoutRoomOut]:
    """Open breakout rooms (admin grant)."""
    rooms = await breakouts.open(session, caller, list(body.names))
    return [breakout_out(r, []) for r in rooms]


@room_router.post("/breakouts/assign", response_model=list[ParticipantOut])
async def assign(
    body: AssignmentsIn, breakouts: BreakoutsDep, caller: CallerDep, session: SessionDep
) -> list[ParticipantOut]:
    """Put participants in rooms (participant id -> room id or "main"); all or none."""
    moved = await breakouts.assign(session, caller, dict(body.assignments))
    return [participant_out(p) for p in moved]


@room_router.post("/breakouts/broadcast", status_code=202)
async def broadcast(
    body: BroadcastIn, breakouts: BreakoutsDep, caller: CallerDep, session: SessionDep
) -> dict[str, int]:
    """Send a message to every room (live channel; admin grant): its event's sequence."""
    return {"sequence": await breakouts.broadcast(session, caller, body.message)}


@room_router.post("/breakouts/close", response_model=list[ParticipantOut])
async def close_breakouts(
    breakouts: BreakoutsDep, caller: CallerDep, session: SessionDep
) -> list[ParticipantOut]:
    """Close every breakout room; who was in one returns to the main room (admin grant)."""
    return [participant_out(p) for p in await breakouts.close(session, caller)]


@room_router.post("/recordings", status_code=201, response_model=RecordingOut)
async def start_recording(
    recordings: RecordingsDep, caller: CallerDep, session: SessionDep
) -> RecordingOut:
    """Start recording the meeting (record grant), with the upload URL its recording page sends
    the media to; while one runs: that one."""
    return recording_out(*await recordings.start(session, caller))


@room_router.get("/recordings/{recording_id}", response_model=RecordingOut)
async def see_recording(
    recording_id: str, recordings: RecordingsDep, caller: CallerDep, session: SessionDep
) -> RecordingOut:
    """A recording with its media as it stands: progress, and download links once ready."""
    return recording_out(*await recordings.read(session, caller, recording_id))


@room_router.post("/recordings/{recording_id}/stop", response_model=RecordingOut)
async def stop_recording(
    recording_id: str, recordings: RecordingsDep, caller: CallerDep, session: SessionDep
) -> RecordingOut:
    """Stop a running recording (record grant)."""
    return recording_out(await recordings.stop(session, caller, recording_id))
