"""The signaling WebSocket, ``/v1/signaling/rooms/{meeting_id}``. Its credential is the meeting
token in the first message (``join``), not a header: browsers cannot set headers on a
WebSocket, and a token in the URL would end up in access logs. So the route is public at the
gateway and here, and session.py refuses a bad token with close 4401 or 4403."""

from __future__ import annotations

from fastapi import APIRouter, WebSocket

from v100.services.meeting_signaling import session
from v100.services.meeting_signaling.deps import SwitchboardDep, TokensDep

__all__ = ["ROOMS", "signaling_router"]

ROOMS = "/v1/signaling/rooms/"
signaling_router = APIRouter(tags=["signaling"])


@signaling_router.websocket(ROOMS + "{meeting_id}")
async def signal(
    websocket: WebSocket, meeting_id: str, switchboard: SwitchboardDep, tokens: TokensDep
) -> None:
    """Join a meeting's signaling room (first message: ``join`` with the meeting token)."""
    await session.serve(websocket, switchboard, tokens, meeting_id)
