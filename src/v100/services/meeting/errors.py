"""meeting's problems (RFC 9457 types under ``/problems/``):

MeetingNotFound           404  not-found
ParticipantNotFound       404  not-found
BreakoutRoomNotFound      404  not-found
RecordingNotFound         404  not-found
MeetingTokenRefused       401  meeting-token-invalid    (forged, expired, another audience)
MeetingTokenRequired      403  meeting-token-required   (a tenant credential on a
                                                        participant's route)
GrantRequired             403  grant-required           (the token lacks join/admin/record)
ParticipantRemoved        403  participant-removed      (its token is refused from then on)
ParticipantDenied         403  participant-denied       (turned away at the waiting room)
MeetingEnded              409  meeting-ended
MeetingLocked             409  meeting-locked           (only hosts and co-hosts enter)
MeetingFull               409  meeting-full             (max_participants are in)
ParticipantNotWaiting     409  participant-not-waiting  (admit or deny someone not waiting)
ParticipantNotJoined      409  participant-not-joined   (move or mute someone not in)
MeetingNotLive            409  meeting-not-live         (recording before anyone joined)
RecordingNotAllowed       409  recording-not-allowed    (the meeting's settings forbid it)
RecordingNotActive        409  recording-not-active     (stopping a stopped recording)
TooManyBreakoutRooms      409  too-many-breakout-rooms"""

from __future__ import annotations

from v100.kit.errors import Conflict, Forbidden, NotFound, Unauthorized

__all__ = [
    "BreakoutRoomNotFound",
    "GrantRequired",
    "MeetingEnded",
    "MeetingFull",
    "MeetingLocked",
    "MeetingNotFound",
    "MeetingNotLive",
    "MeetingTokenRefused",
    "MeetingTokenRequired",
    "ParticipantDenied",
    "ParticipantNotFound",
    "ParticipantNotJoined",
    "ParticipantNotWaiting",
    "ParticipantRemoved",
    "RecordingNotActive",
    "RecordingNotAllowed",
    "RecordingNotFound",
    "TooManyBreakoutRooms",
]


class MeetingNotFound(NotFound):
    title = "No such meeting"


class ParticipantNotFound(NotFound):
    title = "No such participant"


class BreakoutRoomNotFound(NotFound):
    title = "No such breakout room"


class RecordingNotFound(NotFound):
    title = "No such recording"


class MeetingTokenRefused(Unauthorized):
    slug = "meeting-token-invalid"
    title = "The meeting token is not valid"


class MeetingTokenRequired(Forbidden):
    slug = "meeting-token-required"
    title = "This route acts as a participant: present a meeting token"


class GrantRequired(Forbidden):
    slug = "grant-required"
    title = "The meeting token does not grant this"


class ParticipantRemoved(Forbidden):
    slug = "participant-removed"
    title = "The participant was removed from the meeting"


class ParticipantDenied(Forbidden):
    slug = "participant-denied"
    title = "The participant was turned away at the waiting room"


class MeetingEnded(Conflict):
    slug = "meeting-ended"
    title = "The meeting has ended"


class MeetingLocked(Conflict):
    slug = "meeting-locked"
    title = "The meeting is locked"


class MeetingFull(Conflict):
    slug = "meeting-full"
    title = "The meeting is full"


class ParticipantNotWaiting(Conflict):
    slug = "participant-not-waiting"
    title = "The participant is not in the waiting room"


class ParticipantNotJoined(Conflict):
    slug = "participant-not-joined"
    title = "The participant is not in the meeting"


class MeetingNotLive(Conflict):
    slug = "meeting-not-live"
    title = "The meeting is not live"


class RecordingNotAllowed(Conflict):
    slug = "recording-not-allowed"
    title = "The meeting does not allow recording"


class RecordingNotActive(Conflict):
    slug = "recording-not-active"
    title = "The recording is not running"


class TooManyBreakoutRooms(Conflict):
    slug = "too-many-breakout-rooms"
    title = "The meeting has as many breakout rooms as allowed"
