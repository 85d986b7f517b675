"""The first join of a room socket (meeting_signaling and realtime): the first message read
within the join timeout and parsed as the service's ``join``, its meeting token checked
(``contracts.meeting_tokens``) for this meeting and for the ``join`` grant; each refusal closes
the socket with its code and reason. The close codes the two services share are defined here.

    4400 bad join      the first message was not a well-formed ``join`` (or a binary frame)
    4401 unauthorized  the meeting token is forged, expired or malformed
    4403 forbidden     the token is for another meeting, or grants no ``join``
    4408 join timeout  no ``join`` within the join timeout
    4429 rate limited  more messages than the per-socket rate allows
    4508 lagging       the socket read too slowly and its queue filled (reconnect to catch up)
    1013 try later     a backend failed (RFC 6455's "try again later")
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from starlette.websockets import WebSocket, WebSocketDisconnect

from v100.contracts.meeting_tokens import MeetingToken, MeetingTokenInvalid, MeetingTokens

__all__ = [
    "CLOSE_BAD_JOIN",
    "CLOSE_FORBIDDEN",
    "CLOSE_JOIN_TIMEOUT",
    "CLOSE_LAGGING",
    "CLOSE_RATE_LIMITED",
    "CLOSE_TRY_AGAIN_LATER",
    "CLOSE_UNAUTHORIZED",
    "Admission",
    "JoinMessage",
    "ProtocolError",
    "admit",
    "close_socket",
]

# Close codes: 4000-4999 are the application's (RFC 6455 7.4.2).
CLOSE_BAD_JOIN = 4400
CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_JOIN_TIMEOUT = 4408
CLOSE_RATE_LIMITED = 4429
CLOSE_LAGGING = 4508
CLOSE_TRY_AGAIN_LATER = 1013

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
) -> Admission[Join] | None:
    """The accepted ``websocket``'s first message as a ``join_type`` whose token lets it into
    ``meeting_id``, or None once the socket was refused and closed."""
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
    return Admission(join, token)


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
