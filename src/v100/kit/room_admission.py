"""The first join of a room socket (meeting_signaling and realtime): the first message read
within the join timeout and parsed as the service's ``join``, its meeting token checked
(``contracts.meeting_tokens``) for this meeting and for the ``join`` grant; each refusal closes
the socket with its code and reason. The close codes the two services share are defined here.

    4400 bad join      the first message was not a well-formed ``join`` (or a binary frame)
    4401 unauthorized  the meeting token is forged, expired or malformed
    4403 forbidden     the token is for another meeting, or grants no ``join``; or the meeting
                       service says its holder is not in the meeting (waiting, denied, left,
                       removed; the meeting ended): the reason says which
    4307 moved         its holder is in another room of the meeting now (a breakout room, or
                       back in main): ask the meeting service for a room token (retryable)
    4408 join timeout  no ``join`` within the join timeout
    4429 rate limited  more messages than the per-socket rate allows
    4508 lagging       the socket read too slowly and its queue filled (reconnect to catch up)
    1013 try later     a backend failed, or the meeting service did not answer (RFC 6455's
                       "try again later"; fail closed: docs/adr/0061)

A token alone is not enough (docs/adr/0061): at every admission (a first join, a resume, a
reconnect) the meeting service is asked where the token's participant stands
(``contracts.meetings``), through ``Standings``, which keeps a positive answer a few seconds
(a join storm) and forgets it on the meeting's live events; ``loses_room`` says which sockets a
live event takes out of which rooms. ``admission_checks`` sets both up for a service's lifetime.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from starlette.websockets import WebSocket, WebSocketDisconnect

from v100.contracts.events import (
    MEETING_ENDED,
    MEETING_PARTICIPANT_DENIED,
    MEETING_PARTICIPANT_LEFT,
    MEETING_PARTICIPANT_MOVED,
    MeetingEventData,
)
from v100.contracts.meeting_tokens import MeetingToken, MeetingTokenInvalid, MeetingTokens
from v100.contracts.meetings import ParticipantStanding, connect_meetings
from v100.kit.observability import get_logger
from v100.kit.settings import PlatformSettings

__all__ = [
    "CLOSE_BAD_JOIN",
    "CLOSE_FORBIDDEN",
    "CLOSE_JOIN_TIMEOUT",
    "CLOSE_LAGGING",
    "CLOSE_MOVED",
    "CLOSE_RATE_LIMITED",
    "CLOSE_TRY_AGAIN_LATER",
    "CLOSE_UNAUTHORIZED",
    "Admission",
    "AdmissionChecks",
    "AdmissionSettings",
    "JoinMessage",
    "ProtocolError",
    "RoomExit",
    "Standings",
    "admission_checks",
    "admit",
    "close_socket",
    "loses_room",
    "refusal",
]

# Close codes: 4000-4999 are the application's (RFC 6455 7.4.2).
CLOSE_BAD_JOIN = 4400
CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_MOVED = 4307
CLOSE_JOIN_TIMEOUT = 4408
CLOSE_RATE_LIMITED = 4429
CLOSE_LAGGING = 4508
CLOSE_TRY_AGAIN_LATER = 1013

_log = get_logger("v100.kit.room_admission")

# A close frame's reason holds 123 bytes (RFC 6455 5.5); what is cut is only the tail of a detail.
_REASON_CHARS = 120


class ProtocolError(Exception):
    """What the client is told in an ``error`` message (a service's ``parse`` raises it)."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


class JoinMessage(Protocol):
    """What admission needs of a service's ``join``: the meeting token it carries."""

    @property
    def token(self) -> str: ...


Join = TypeVar("Join", bound=JoinMessage)


@dataclass(frozen=True, slots=True)
class Admission(Generic[Join]):
    """A socket let in: its ``join`` (with what the service reads from it) and its checked
    token."""

    join: Join
    token: MeetingToken


async def close_socket(websocket: WebSocket, code: int, reason: str) -> None:
    """Close ``websocket``; one already gone is left as it is."""
    with contextlib.suppress(Exception):
        await websocket.close(code, reason[:_REASON_CHARS])


async def admit(
    websocket: WebSocket,
    *,
    parse: Callable[[str], object],
    join_type: type[Join],
    tokens: MeetingTokens,
    meeting_id: str,
    within: float,
    standings: Standings | None,
) -> Admission[Join] | None:
    """The accepted ``websocket``'s first message as a ``join_type`` whose token lets it into
    ``meeting_id``, and whose holder the meeting service says is in the token's room now
    (``standings``; None: the token alone, for tests of the socket protocol only), or None
    once the socket was refused and closed."""
    join = await _first_join(websocket, parse, join_type, within)
    if join is None:
        return None
    try:
        token = tokens.verify(join.token)
    except MeetingTokenInvalid as exc:
        await close_socket(websocket, CLOSE_UNAUTHORIZED, str(exc))
        return None
    if token.meeting_id != meeting_id:
        await close_socket(websocket, CLOSE_FORBIDDEN, "The meeting token is for another meeting.")
        return None
    if not token.grants.join:
        await close_socket(websocket, CLOSE_FORBIDDEN, "The meeting token grants no join.")
        return None
    if standings is not None:
        try:
            standing = await standings.of(token)
        except Exception as exc:  # any failure to learn the standing: fail closed, retryable
            _log.warning("room admission: no standing from the meeting service", error=repr(exc))
            await close_socket(
                websocket, CLOSE_TRY_AGAIN_LATER, "meeting-unavailable: try again shortly"
            )
            return None
        refused = refusal(token, standing)
        if refused is not None:
            await close_socket(websocket, *refused)
            return None
    return Admission(join, token)


def refusal(token: MeetingToken, standing: ParticipantStanding | None) -> tuple[int, str] | None:
    """Why the token's holder may not enter the token's room, as a close code and reason; None
    when it may (joined, in that room, with this very token, the meeting not ended)."""
    if standing is None:
        return CLOSE_FORBIDDEN, "not-a-participant: the meeting has no such participant"
    if standing.token_id != token.token_id:
        return CLOSE_UNAUTHORIZED, "The meeting token is not valid."
    if standing.meeting_status == "ended":
        return CLOSE_FORBIDDEN, "meeting-ended: the meeting has ended"
    if standing.status != "joined":
        return CLOSE_FORBIDDEN, _NOT_IN[standing.status]
    if standing.room != token.room:
        return CLOSE_MOVED, "moved: the participant is in another room; ask for a room token"
    return None


_NOT_IN = {
    "invited": "not-joined: join the meeting first",
    "waiting": "waiting: the participant is in the waiting room until admitted",
    "left": "not-joined: the participant left the meeting; join it again",
    "denied": "denied: the host turned this participant away",
    "removed": "removed: the participant was removed from the meeting",
}

StandingLookup = Callable[[str, str, str], Awaitable[ParticipantStanding | None]]


class Standings:
    """Where meeting tokens' holders stand, asked of the meeting service (``lookup``: tenant,
    meeting, participant). An answer that lets a socket in is kept ``keep_seconds`` (a storm of
    joins and resumes asks once per participant), and forgotten at once on a live event about
    the participant or its meeting (``forget``); a refusal is never kept (an admission counts
    at once). One question per participant is in flight at a time."""

    def __init__(
        self,
        lookup: StandingLookup,
        *,
        keep_seconds: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        most: int = 10_000,
    ) -> None:
        self._lookup = lookup
        self._keep = keep_seconds
        self._clock = clock
        self._most = most
        self._kept: dict[tuple[str, str, str], tuple[float, ParticipantStanding]] = {}
        self._asking: dict[tuple[str, str, str], asyncio.Task[ParticipantStanding | None]] = {}
        # Bumped by every ``forget``: an answer asked for before it is not kept.
        self._generation = 0

    async def of(self, token: MeetingToken) -> ParticipantStanding | None:
        key = (token.tenant_id, token.meeting_id, token.participant_id)
        kept = self._kept.get(key)
        if kept is not None and kept[0] > self._clock():
            return kept[1]
        asking = self._asking.get(key)
        if asking is None:
            asking = self._asking[key] = asyncio.create_task(self._ask(key, self._generation))
        return await asyncio.shield(asking)

    async def _ask(self, key: tuple[str, str, str], generation: int) -> ParticipantStanding | None:
        try:
            standing = await self._lookup(*key)
        finally:
            self._asking.pop(key, None)
        if (
            self._keep > 0
            and standing is not None
            and standing.status == "joined"
            and standing.meeting_status != "ended"
            and generation == self._generation
        ):
            if len(self._kept) >= self._most:
                self._drop_stale()
            self._kept[key] = (self._clock() + self._keep, standing)
        return standing

    def _drop_stale(self) -> None:
        now = self._clock()
        for key, (until, _) in list(self._kept.items()):
            if until <= now:
                del self._kept[key]
        while len(self._kept) >= self._most:
            del self._kept[next(iter(self._kept))]

    def forget(self, tenant_id: str, meeting_id: str, participant_id: str | None) -> None:
        """Drop what is kept of the participant (None: of everyone in the meeting)."""
        self._generation += 1
        if participant_id is not None:
            self._kept.pop((tenant_id, meeting_id, participant_id), None)
            return
        for key in [k for k in self._kept if k[0] == tenant_id and k[1] == meeting_id]:
            del self._kept[key]


class AdmissionSettings(Protocol):
    """What a room service's settings say about admission (both services' settings have it)."""

    @property
    def platform(self) -> PlatformSettings: ...
    @property
    def meeting_url(self) -> str: ...
    @property
    def check_standing(self) -> bool: ...
    @property
    def standing_keep_seconds(self) -> float: ...


@dataclass(frozen=True, slots=True)
class AdmissionChecks:
    """How a room service checks a join: the meeting tokens, and the standings asked of the
    meeting service (None when ``check_standing`` is off)."""

    tokens: MeetingTokens
    standings: Standings | None


@contextlib.asynccontextmanager
async def admission_checks(settings: AdmissionSettings) -> AsyncIterator[AdmissionChecks]:
    """The checks for the service's lifetime; the meeting service's client closes after it."""
    meetings = connect_meetings(settings.meeting_url, settings.platform)
    standings = None
    if settings.check_standing:
        standings = Standings(meetings.standing, keep_seconds=settings.standing_keep_seconds)
    try:
        yield AdmissionChecks(
            MeetingTokens(settings.platform.resolved_internal_token_secret), standings
        )
    finally:
        await meetings.aclose()


@dataclass(frozen=True, slots=True)
class RoomExit:
    """Sockets a meeting's live event takes out: the participant's (None: everyone's) in any
    room but ``stays_in`` (None: every room), closed with ``code`` and ``reason``."""

    participant_id: str | None
    stays_in: str | None
    code: int
    reason: str

    def closes(self, participant_id: str, room: str) -> bool:
        if self.participant_id is not None and participant_id != self.participant_id:
            return False
        return self.stays_in is None or room != self.stays_in


def loses_room(event_type: str, data: MeetingEventData) -> RoomExit | None:
    """What a meeting's live event takes out of its rooms: a participant that left (or was
    removed, or whose meeting ended) leaves every room, one that moved leaves every room but
    its new one, a denied one never had any, and an ended meeting empties them all."""
    if event_type == MEETING_ENDED:
        return RoomExit(None, None, CLOSE_FORBIDDEN, "meeting-ended: the meeting has ended")
    who = data.participant
    if who is None:
        return None
    if event_type == MEETING_PARTICIPANT_MOVED:
        return RoomExit(who.id, who.room, CLOSE_MOVED, "moved: ask for a room token")
    if event_type == MEETING_PARTICIPANT_LEFT:
        reason = data.reason or "left"
        if reason == "ended":
            return RoomExit(who.id, None, CLOSE_FORBIDDEN, "meeting-ended: the meeting has ended")
        if reason == "removed":
            return RoomExit(who.id, None, CLOSE_FORBIDDEN, _NOT_IN["removed"])
        return RoomExit(who.id, None, CLOSE_FORBIDDEN, _NOT_IN["left"])
    if event_type == MEETING_PARTICIPANT_DENIED:
        return RoomExit(who.id, None, CLOSE_FORBIDDEN, _NOT_IN["denied"])
    return None


async def _first_join(
    websocket: WebSocket, parse: Callable[[str], object], join_type: type[Join], within: float
) -> Join | None:
    try:
        async with asyncio.timeout(within):
            text = await websocket.receive_text()
    except TimeoutError:
        await close_socket(websocket, CLOSE_JOIN_TIMEOUT, "join timeout")
        return None
    except (WebSocketDisconnect, KeyError, RuntimeError):  # gone, or a binary frame
        await close_socket(websocket, CLOSE_BAD_JOIN, "the first message must be a join")
        return None
    try:
        message = parse(text)
    except ProtocolError as exc:
        await close_socket(websocket, CLOSE_BAD_JOIN, f"{exc.code}: {exc.detail}")
        return None
    if not isinstance(message, join_type):
        await close_socket(websocket, CLOSE_BAD_JOIN, "the first message must be a join")
        return None
    return message
