"""The signaling protocol's wire shapes (docs/meeting-signaling.md): what a client may send,
checked before anything is relayed, the errors it is answered with, and the close codes.

A message that cannot be understood (not JSON, an unknown type, a malformed SDP or candidate,
a peer not in the room) is answered ``{"type": "error", "code": ..., "detail": ...}`` and the
socket stays open; only the faults below close it."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
)

from v100.kit.room_admission import (
    CLOSE_BAD_JOIN,
    CLOSE_FORBIDDEN,
    CLOSE_JOIN_TIMEOUT,
    CLOSE_LAGGING,
    CLOSE_RATE_LIMITED,
    CLOSE_UNAUTHORIZED,
    ProtocolError,
)

__all__ = [
    "CLOSE_BAD_JOIN",
    "CLOSE_FORBIDDEN",
    "CLOSE_JOIN_TIMEOUT",
    "CLOSE_LAGGING",
    "CLOSE_PING_TIMEOUT",
    "CLOSE_RATE_LIMITED",
    "CLOSE_REPLACED",
    "CLOSE_ROOM_FULL",
    "CLOSE_UNAUTHORIZED",
    "ClientMessage",
    "Join",
    "Leave",
    "Ping",
    "Pong",
    "ProtocolError",
    "Relayed",
    "SfuCandidate",
    "SfuJoin",
    "SfuMessage",
    "SfuPublish",
    "SfuRestart",
    "SfuStart",
    "SfuSubscribe",
    "SfuUnpublish",
    "parse",
]

# Close codes of signaling alone (4000-4999 are the application's, RFC 6455 7.4.2); those it
# shares with realtime (4400, 4401, 4403, 4408, 4429, 4508, 1013) are kit.room_admission's.
# 1000: the client left; 1012: the replica is shutting down (resume on another).
CLOSE_REPLACED = 4409  # the session was resumed on another socket
CLOSE_ROOM_FULL = 4413  # the room already holds ``max_peers`` sessions
CLOSE_PING_TIMEOUT = 4504  # ``missed_pings`` pings in a row went unanswered

_SESSION_ID = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
# Every SDP line is ``<letter>=<value>`` (RFC 8866 5); a session description starts with v=0.
_SDP_LINE = re.compile(r"^[a-z]=[^\x00]*$")


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Join(_Message):
    type: Literal["join"]
    token: str = Field(min_length=1, max_length=8192)
    # A resume: the session id of the join answer, and the last ``seq`` the client handled.
    session_id: _SESSION_ID | None = None
    last_seq: int = Field(default=0, ge=0, le=2**53)


class _ToPeer(_Message):
    to: _SESSION_ID


def _well_formed(sdp: str) -> str:
    lines = sdp.replace("\r\n", "\n").rstrip("\n").split("\n")
    if lines[0] != "v=0" or not all(_SDP_LINE.match(line) for line in lines):
        raise ValueError("not a session description (RFC 8866)")
    if not any(line.startswith("m=") for line in lines):
        raise ValueError("a session description with no media section")
    return sdp


Sdp = Annotated[str, Field(min_length=1, max_length=256 * 1024), AfterValidator(_well_formed)]


class Description(_ToPeer):
    type: Literal["offer", "answer"]
    sdp: Sdp


class IceCandidate(_Message):
    # RTCIceCandidateInit; an empty ``candidate`` is the end of a generation's candidates.
    candidate: str = Field(max_length=1024)
    sdpMid: str | None = Field(default=None, max_length=64)  # the W3C names
    sdpMLineIndex: int | None = Field(default=None, ge=0, le=1024)
    usernameFragment: str | None = Field(default=None, max_length=256)

    @field_validator("candidate")
    @classmethod
    def _grammar(cls, candidate: str) -> str:
        if candidate and not candidate.startswith("candidate:"):
            raise ValueError("an ICE candidate starts with 'candidate:' (RFC 8839 5.1)")
        return candidate


class Candidate(_ToPeer):
    type: Literal["candidate"]
    candidate: IceCandidate


class EndOfCandidates(_ToPeer):
    type: Literal["end-of-candidates"]


class IceRestart(_ToPeer):
    type: Literal["ice-restart"]


class Ping(_Message):
    type: Literal["ping"]
    id: int | str = Field(default=0, union_mode="left_to_right")


class Pong(_Message):
    type: Literal["pong"]
    id: int = Field(ge=0)


class Leave(_Message):
    type: Literal["leave"]


# -- the SFU's messages (sfu.py; docs/meeting-signaling.md, "Through the SFU") ------------------

_FEEDS = Annotated[list[Annotated[int, Field(ge=1, le=2**53)]], Field(min_length=1, max_length=100)]


class SfuJoin(_Message):
    type: Literal["sfu.join"]


class SfuPublish(_Message):
    type: Literal["sfu.publish"]
    sdp: Sdp


class SfuUnpublish(_Message):
    type: Literal["sfu.unpublish"]


class SfuSubscribe(_Message):
    type: Literal["sfu.subscribe", "sfu.unsubscribe"]
    feeds: _FEEDS


class SfuStart(_Message):
    type: Literal["sfu.start"]
    sdp: Sdp


class SfuRestart(_Message):
    """The subscriber's ICE failed: Janus offers again with new ICE credentials."""

    type: Literal["sfu.restart"]


class SfuCandidate(_Message):
    type: Literal["sfu.candidate"]
    target: Literal["publisher", "subscriber"]
    candidate: IceCandidate


SfuMessage = (
    SfuJoin | SfuPublish | SfuUnpublish | SfuSubscribe | SfuStart | SfuRestart | SfuCandidate
)
Relayed = Description | Candidate | EndOfCandidates | IceRestart
ClientMessage = Annotated[
    Join
    | Description
    | Candidate
    | EndOfCandidates
    | IceRestart
    | Ping
    | Pong
    | Leave
    | SfuJoin
    | SfuPublish
    | SfuUnpublish
    | SfuSubscribe
    | SfuStart
    | SfuRestart
    | SfuCandidate,
    Field(discriminator="type"),
]
_ADAPTER: TypeAdapter[Any] = TypeAdapter(ClientMessage)
_CODES = {"sdp": "invalid-sdp", "candidate": "invalid-candidate"}


def parse(text: str) -> Join | Relayed | Ping | Pong | Leave | SfuMessage:
    """The message in ``text``, or a ``ProtocolError`` saying what is wrong with it."""
    try:
        message: Join | Relayed | Ping | Pong | Leave | SfuMessage = _ADAPTER.validate_json(text)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = [str(part) for part in first["loc"]]
        if first["type"] == "json_invalid":
            raise ProtocolError("malformed-message", "The message is not JSON.") from None
        if first["type"] in ("union_tag_not_found", "union_tag_invalid", "model_type"):
            raise ProtocolError(
                "unknown-type", "The message needs a known 'type' (see the protocol)."
            ) from None
        code = next((_CODES[part] for part in where if part in _CODES), "malformed-message")
        raise ProtocolError(code, f"{'.'.join(where[1:]) or 'message'}: {first['msg']}") from None
    return message
