"""kit.room_admission: a room socket's first join, once for meeting_signaling and realtime.
A small Starlette app admits sockets in process (no port): a well-formed join with a good token
is let in with its claims; each refusal closes the socket with its code and reason."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket, WebSocketDisconnect

from v100.contracts.meeting_tokens import MeetingGrants, MeetingToken, MeetingTokens
from v100.kit.room_admission import (
    CLOSE_BAD_JOIN,
    CLOSE_FORBIDDEN,
    CLOSE_JOIN_TIMEOUT,
    CLOSE_UNAUTHORIZED,
    ProtocolError,
    admit,
)

pytestmark = pytest.mark.time_sensitive

TOKENS = MeetingTokens("room-admission-test-secret-0123456789abcdef")


@dataclass(frozen=True)
class Join:
    token: str
    since: int | None = None


@dataclass(frozen=True)
class Other:
    kind: str


def parse(text: str) -> Join | Other:
    """A service's parse in small: ProtocolError for what is not a known message."""
    try:
        message = json.loads(text)
    except ValueError:
        raise ProtocolError("malformed-message", "The message is not JSON.") from None
    if not isinstance(message, dict) or "type" not in message:
        raise ProtocolError("unknown-type", f"No 'type' in {text}")
    if message["type"] == "join":
        return Join(str(message.get("token", "")), message.get("since"))
    return Other(str(message["type"]))


async def room(websocket: WebSocket) -> None:
    await websocket.accept()
    admitted = await admit(
        websocket, parse=parse, join_type=Join, tokens=TOKENS,
        meeting_id=websocket.path_params["meeting_id"], within=0.5, standings=None,
    )  # fmt: skip
    if admitted is None:
        return
    token = admitted.token
    await websocket.send_json(
        {"participant_id": token.participant_id, "room": token.room,
         "tenant_id": token.tenant_id, "since": admitted.join.since}
    )  # fmt: skip
    await websocket.close(1000)


APP = Starlette(routes=[WebSocketRoute("/rooms/{meeting_id}", room)])


def mint(meeting_id: str = "m-1", *, expires_in: float = 600, join: bool = True) -> str:
    return TOKENS.mint(
        MeetingToken(
            tenant_id="tenant-a", meeting_id=meeting_id, participant_id="p-ada", name="Ada",
            role="participant", grants=MeetingGrants(join=join),
            expires_at=int(time.time() + expires_in), room="breakout-1",
        )
    )  # fmt: skip


def refused(first: str | bytes | None, meeting_id: str = "m-1") -> tuple[int, str]:
    """The close code and reason a socket gets after sending ``first`` (None: nothing)."""
    with (
        TestClient(APP) as client,
        client.websocket_connect(f"/rooms/{meeting_id}") as socket,
    ):
        if isinstance(first, bytes):
            socket.send_bytes(first)
        elif first is not None:
            socket.send_text(first)
        with pytest.raises(WebSocketDisconnect) as closed:
            socket.receive_text()
    return closed.value.code, closed.value.reason


def join(token: str, **more: Any) -> str:
    return json.dumps({"type": "join", "token": token, **more})


def test_a_good_join_is_let_in_with_its_claims() -> None:
    with TestClient(APP) as client, client.websocket_connect("/rooms/m-1") as socket:
        socket.send_text(join(mint(), since=7))
        assert socket.receive_json() == {
            "participant_id": "p-ada", "room": "breakout-1", "tenant_id": "tenant-a", "since": 7,
        }  # fmt: skip


def test_a_bad_token_closes_4401_with_why() -> None:
    forged = MeetingTokens("another-secret-0123456789abcdef0123456789").mint(
        MeetingToken(
            tenant_id="tenant-a", meeting_id="m-1", participant_id="p-eve", name="Eve",
            role="host", grants=MeetingGrants(), expires_at=int(time.time() + 600),
        )
    )  # fmt: skip
    assert refused(join(forged)) == (CLOSE_UNAUTHORIZED, "The meeting token is not valid.")
    assert refused(join(mint(expires_in=-60))) == (
        CLOSE_UNAUTHORIZED,
        "The meeting token has expired.",
    )
    assert refused(join("not.a.jwt"))[0] == CLOSE_UNAUTHORIZED


def test_another_meeting_or_no_join_grant_closes_4403() -> None:
    assert refused(join(mint("m-2"))) == (
        CLOSE_FORBIDDEN,
        "The meeting token is for another meeting.",
    )
    assert refused(join(mint(join=False))) == (CLOSE_FORBIDDEN, "The meeting token grants no join.")


def test_a_first_message_that_is_no_join_closes_4400() -> None:
    assert refused(json.dumps({"type": "state"})) == (
        CLOSE_BAD_JOIN,
        "the first message must be a join",
    )
    assert refused("{not json") == (CLOSE_BAD_JOIN, "malformed-message: The message is not JSON.")
    assert refused(b"\x00binary") == (CLOSE_BAD_JOIN, "the first message must be a join")


def test_silence_closes_4408() -> None:
    assert refused(None) == (CLOSE_JOIN_TIMEOUT, "join timeout")


def test_a_long_reason_is_cut_to_fit_a_close_frame() -> None:
    code, reason = refused(json.dumps({"no": "type" * 100}))
    assert code == CLOSE_BAD_JOIN
    assert reason.startswith("unknown-type")
    assert len(reason.encode()) <= 123
