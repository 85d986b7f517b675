"""Who acts on a participant's route: the meeting token is checked (signature, audience,
expiry: ``contracts.meeting_tokens``), then the participant it names, as stored now: a token
for another meeting answers 404, a token that is no longer its participant's (or a forged one
with a known id) 401, a removed participant 403 from then on."""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from v100.contracts.meeting_tokens import MeetingToken, MeetingTokenInvalid, MeetingTokens
from v100.services.meeting.errors import (
    GrantRequired,
    MeetingNotFound,
    MeetingTokenRefused,
    ParticipantRemoved,
)
from v100.services.meeting.models import Participant
from v100.services.meeting.repository import ParticipantRepository
from v100.services.meeting.service import grants_of

__all__ = ["Caller", "identify"]


@dataclass(frozen=True, slots=True)
class Caller:
    """A checked meeting token and its participant's row (as stored when the request began)."""

    token: MeetingToken
    participant: Participant

    @property
    def tenant_id(self) -> str:
        return self.token.tenant_id

    def require(self, grant: str) -> None:
        """403 ``grant-required`` unless the participant holds ``grant``."""
        if not getattr(grants_of(self.participant), grant):
            raise GrantRequired(f"This meeting token does not grant {grant!r}.")


async def identify(
    session: AsyncSession, tokens: MeetingTokens, encoded: str, meeting_id: str
) -> Caller:
    try:
        token = tokens.verify(encoded, now=time.time())
    except MeetingTokenInvalid as exc:
        raise MeetingTokenRefused(str(exc)) from None
    if token.meeting_id != meeting_id:
        raise MeetingNotFound(f"Meeting {meeting_id} does not exist.")
    participant = await ParticipantRepository(session).in_meeting(
        token.tenant_id, meeting_id, token.participant_id
    )
    if participant is None or participant.token_id != token.token_id:
        raise MeetingTokenRefused("The meeting token is not valid.")
    if participant.status == "removed":
        raise ParticipantRemoved("This participant was removed from the meeting.")
    return Caller(token, participant)
