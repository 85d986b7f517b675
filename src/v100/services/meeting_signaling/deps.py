"""What meeting_signaling's endpoint is given, typed: this replica's switchboard and the meeting
tokens' checker."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from v100.contracts.meeting_tokens import MeetingTokens
from v100.kit.http import Provided
from v100.services.meeting_signaling.switchboard import Switchboard

__all__ = ["SwitchboardDep", "TokensDep"]

SwitchboardDep = Annotated[Switchboard, Depends(Provided(Switchboard))]
TokensDep = Annotated[MeetingTokens, Depends(Provided(MeetingTokens))]
