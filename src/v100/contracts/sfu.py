"""The SFU room of a meeting's room, as the meeting service (which makes and ends it) and
meeting_signaling (which joins its peers to it) both name it: the VideoRoom's number, secret and
pin derived from the installation's secret and the room's key, so nothing is stored or passed
between them (ADR 0058)."""

from __future__ import annotations

from v100.kit.janus import VideoRoom, video_room

__all__ = ["room_key", "sfu_room"]


def room_key(tenant_id: str, meeting_id: str, room: str) -> str:
    """A room is one room ("main" or a breakout room's id) of one meeting of one tenant."""
    return f"{tenant_id}/{meeting_id}/{room}"


def sfu_room(installation_secret: str, tenant_id: str, meeting_id: str, room: str) -> VideoRoom:
    return video_room(installation_secret, room_key(tenant_id, meeting_id, room))
