"""The realtime WebSocket, ``/v1/realtime/rooms/{meeting_id}``. Its credential is the meeting
token in the first message (``join``), not a header: browsers cannot set headers on a
WebSocket, and a token in the URL would end up in access logs. So the route is public at the
gateway and here, and session.py refuses a bad token with close 4401 or 4403. A plain Starlette
route, as meeting_signaling's (ADR 0052): FastAPI would keep its dependency solving alive for
the socket's whole life."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from v100.contracts.meeting_tokens import MeetingTokens
from v100.kit.http import runtime_of
from v100.services.realtime import session
from v100.services.realtime.hub import Hub

__all__ = ["ROOMS", "realtime_router"]

ROOMS = "/v1/realtime/rooms/"


async def room(websocket: WebSocket) -> None:
    """Join a meeting room's live state (first message: ``join`` with the meeting token)."""
    runtime = runtime_of(websocket)
    meeting_id = str(websocket.path_params["meeting_id"])
    await session.serve(websocket, runtime.get(Hub), runtime.get(MeetingTokens), meeting_id)


realtime_router = APIRouter(routes=[WebSocketRoute(ROOMS + "{meeting_id}", room)])
