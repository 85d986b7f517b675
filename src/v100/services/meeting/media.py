"""Which path a room's media takes (ADR 0058): peer-to-peer (mesh) while the room holds up to
``sfu_threshold`` participants; past it, a Janus VideoRoom room made here (its secret, pin and
cap on publishers; audio level events), announced ``meeting.media.changed`` so signaling moves
the room's peers over. A room stays on the SFU until it empties (the meeting ends, its breakout
room closes, or everyone left): a room that crossed back and forth as people come and go would
renegotiate every peer each time (no flapping). Janus holds the truth of which rooms are on it.

Without Janus configured, a room past the threshold stays a mesh, and that is logged once per
room. A Janus that fails leaves the room as it was (logged); joining never fails for it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncSession

from v100.contracts.sfu import room_key, sfu_room
from v100.kit.errors import BackendUnavailable
from v100.kit.janus import Janus, JanusError, VideoRooms
from v100.kit.observability import get_logger
from v100.services.meeting.models import Meeting
from v100.services.meeting.repository import ParticipantRepository
from v100.services.meeting.settings import MeetingSettings

__all__ = ["RoomMedia", "room_media"]

_log = get_logger("v100.meeting.media")
# Rooms whose "no Janus" was logged (bounded: a long-running embedded install forgets old ones).
_WARNED_AT_MOST = 10_000


class RoomMedia:
    def __init__(self, settings: MeetingSettings, rooms: VideoRooms | None) -> None:
        self.threshold = settings.sfu_threshold
        self.max_publishers = settings.sfu_max_publishers
        self.secret = settings.platform.resolved_internal_token_secret
        self.rooms = rooms
        self._warned: set[str] = set()

    async def follow(
        self, session: AsyncSession, meeting: Meeting, rooms: set[str]
    ) -> list[tuple[str, str]]:
        """Bring each of ``rooms`` (their population just changed) onto the SFU or off it; the
        ``(room, media)`` changes made, to be announced."""
        changes = []
        repository = ParticipantRepository(session)
        for room in sorted(rooms):
            count = await repository.joined_in_room(meeting.tenant_id, meeting.id, room)
            if count > self.threshold:
                if await self._open(meeting, room, count):
                    changes.append((room, "sfu"))
            elif count == 0 and await self._close(meeting, room):
                changes.append((room, "mesh"))
        return changes

    async def _open(self, meeting: Meeting, room: str, count: int) -> bool:
        key = room_key(meeting.tenant_id, meeting.id, room)
        if self.rooms is None:
            if key not in self._warned:
                if len(self._warned) >= _WARNED_AT_MOST:
                    self._warned.clear()
                self._warned.add(key)
                _log.warning(
                    "meeting: room past the SFU threshold stays peer-to-peer: no Janus "
                    "configured (V100_JANUS_URL)",
                    room=key, participants=count, threshold=self.threshold,
                )  # fmt: skip
            return False
        video_room = sfu_room(self.secret, meeting.tenant_id, meeting.id, room)
        publishers = min(self.max_publishers, meeting.max_participants)
        try:
            return await self.rooms.create(
                video_room, publishers=max(publishers, 2), description=key
            )
        except (JanusError, BackendUnavailable) as exc:
            _log.warning("meeting: the SFU room was not made", room=key, error=str(exc))
            return False

    async def _close(self, meeting: Meeting, room: str) -> bool:
        if self.rooms is None:
            return False
        key = room_key(meeting.tenant_id, meeting.id, room)
        try:
            video_room = sfu_room(self.secret, meeting.tenant_id, meeting.id, room)
            return await self.rooms.destroy(video_room)
        except (JanusError, BackendUnavailable) as exc:
            _log.warning("meeting: the SFU room was not destroyed", room=key, error=str(exc))
            return False


@contextlib.asynccontextmanager
async def room_media(settings: MeetingSettings) -> AsyncIterator[RoomMedia]:
    """The rooms' media for the service's life: on Janus when it is configured."""
    platform = settings.platform
    if platform.janus_url is None:
        yield RoomMedia(settings, None)
        return
    secret = None if platform.janus_secret is None else platform.janus_secret.get_secret_value()
    janus = Janus(platform.janus_url, secret, timeout=5.0)
    rooms = VideoRooms(janus, secret)
    try:
        yield RoomMedia(settings, rooms)
    finally:
        await rooms.close()
        await janus.close()
