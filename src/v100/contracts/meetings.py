"""What other services use of meeting: a typed async client, over ``kit.http.ServiceClient``,
for a participant's standing (docs/adr/0061): where the holder of a meeting token stands now
(joined, waiting, left, denied, removed; the room it is in; the meeting live or ended). The
room services (meeting_signaling, realtime) ask it before a socket is let into a room
(``kit.room_admission``). The calls carry the platform scope ``service:meetings``, which no
tenant credential can hold; the tenant is the token's, so another tenant's participant is 404.

    meetings = connect_meetings(settings.meeting_url, settings.platform)
    standing = await meetings.standing(tenant_id, meeting_id, participant_id)  # None: unknown
    standing.status == "joined" and standing.room == "main"  # aclose() the client after

No answer at all (or a 5xx) raises the kit's ``UpstreamUnavailable``; another refusal raises
``MeetingsError``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from v100.contracts._calls import Refused, platform_tokens, problem_of
from v100.kit.auth import Principal
from v100.kit.errors import UpstreamUnavailable
from v100.kit.http import ServiceClient
from v100.kit.settings import PlatformSettings

__all__ = [
    "MEETINGS_SCOPES",
    "STANDING_PATH",
    "MeetingsClient",
    "MeetingsError",
    "ParticipantStanding",
    "connect_meetings",
    "working_for",
]

MEETINGS_SCOPES = frozenset({"service:meetings"})
STANDING_PATH = "/v1/meetings/{meeting_id}/participants/{participant_id}/standing"


def working_for(tenant_id: str) -> Principal:
    """The identity of a service's call about ``tenant_id``'s meetings."""
    return Principal(tenant_id=tenant_id, scopes=MEETINGS_SCOPES, role="service")


class ParticipantStanding(BaseModel):
    """``GET .../participants/{participant_id}/standing``: the participant as stored now."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    meeting_id: str
    participant_id: str
    # The ``jti`` of the one meeting token that acts as this participant.
    token_id: str
    status: Literal["invited", "waiting", "joined", "left", "denied", "removed"]
    # "main" or a breakout room's id (where it is while joined).
    room: str
    meeting_status: Literal["scheduled", "live", "ended"]


class MeetingsError(Refused):
    """meeting refused a call; ``problem`` is its RFC 9457 body."""


class MeetingsClient:
    def __init__(self, client: ServiceClient) -> None:
        self._client = client

    async def aclose(self) -> None:
        await self._client.aclose()

    async def standing(
        self, tenant_id: str, meeting_id: str, participant_id: str
    ) -> ParticipantStanding | None:
        """The participant's standing; None when the tenant's meeting has no such one."""
        path = STANDING_PATH.format(meeting_id=meeting_id, participant_id=participant_id)
        response = await self._client.get(path, principal=working_for(tenant_id))
        if response.status_code == 404:
            return None
        if response.status_code >= 500:
            raise UpstreamUnavailable("meeting could not answer a standing.", retry_after=1)
        if response.status_code >= 400:
            raise MeetingsError(response.status_code, problem_of(response))
        return ParticipantStanding.model_validate(response.json())


def connect_meetings(
    url: str, platform: PlatformSettings, *, timeout: float = 5.0
) -> MeetingsClient:
    """A client of meeting at ``url`` that signs its calls with the platform's internal token
    secret; it owns its connections (``aclose``). A short timeout: a socket waits on it."""
    tokens = platform_tokens(platform)
    return MeetingsClient(ServiceClient(url, tokens, timeout=timeout, connect_timeout=1.0))
