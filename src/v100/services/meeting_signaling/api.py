"""The signaling WebSocket, ``/v1/signaling/rooms/{meeting_id}``. Its credential is the meeting
token in the first message (``join``), not a header: browsers cannot set headers on a
WebSocket, and a token in the URL would end up in access logs. So the route is public at the
gateway and here, and session.py refuses a bad token with close 4401 or 4403.

A plain Starlette route rather than FastAPI's: FastAPI keeps its dependency solving's exit
stacks alive for the socket's whole life, about 4.7 KiB a socket of the 40 KB budget (ADR
0052). It takes the switchboard and the tokens' checker from the runtime, as ``Provided`` does."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from v100.contracts.meeting_tokens import MeetingTokens
from v100.kit.http import runtime_of
from v100.services.meeting_signaling import session
from v100.services.meeting_signaling.sfu import SfuRelay
from v100.services.meeting_signaling.switchboard import Switchboard

__all__ = ["ROOMS", "signaling_router"]

ROOMS = "/v1/signaling/rooms/"


async def signal(websocket: WebSocket) -> None:
    """Join a meeting's signaling room (first message: ``join`` with the meeting token)."""
    runtime = runtime_of(websocket)
    meeting_id = str(websocket.path_params["meeting_id"])
    await session.serve(
        websocket, runtime.get(Switchboard), runtime.get(MeetingTokens), meeting_id,
        runtime.get(SfuRelay),
    )  # fmt: skip


signaling_router = APIRouter(routes=[WebSocketRoute(ROOMS + "{meeting_id}", signal)])
