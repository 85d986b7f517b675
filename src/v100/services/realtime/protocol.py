"""The realtime protocol's wire shapes (docs/realtime.md): what a client may send, the errors it
is answered with, and the close codes (the same numbers as meeting_signaling's where they mean
the same). A message that cannot be understood is answered ``{"type": "error", "code",
"detail"}`` and the socket stays open."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

__all__ = [
    "CLOSE_BAD_JOIN",
    "CLOSE_FORBIDDEN",
    "CLOSE_JOIN_TIMEOUT",
    "CLOSE_LAGGING",
    "CLOSE_RATE_LIMITED",
    "CLOSE_UNAUTHORIZED",
    "Heartbeat",
    "Join",
    "Leave",
    "ProtocolError",
    "State",
    "parse",
]

CLOSE_BAD_JOIN = 4400  # the first message was not a well-formed ``join``
CLOSE_UNAUTHORIZED = 4401  # the meeting token is forged, expired or malformed
CLOSE_FORBIDDEN = 4403  # the token is for another meeting, or grants no ``join``
CLOSE_JOIN_TIMEOUT = 4408  # no ``join`` within ``join_timeout_seconds``
CLOSE_RATE_LIMITED = 4429  # more messages than the per-socket rate allows
CLOSE_LAGGING = 4508  # the socket read too slowly: reconnect with ``since``


class ProtocolError(Exception):
    """What the client is told in an ``error`` message."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Join(_Message):
    type: Literal["join"]
    token: str = Field(min_length=1, max_length=8192)
    # A reconnect: the last ``seq`` the client handled; what followed is sent, or a snapshot.
    since: int | None = Field(default=None, ge=0, le=2**53)


class State(_Message):
    """The sender's own state; only the fields given change."""

    type: Literal["state"]
    speaking: bool | None = None
    hand_raised: bool | None = None
    mic: bool | None = None
    cam: bool | None = None
    screen: bool | None = None

    def changes(self) -> dict[str, bool]:
        return self.model_dump(exclude={"type"}, exclude_none=True)


class Heartbeat(_Message):
    type: Literal["heartbeat"]


class Leave(_Message):
    type: Literal["leave"]


_ADAPTER: TypeAdapter[Any] = TypeAdapter(
    Annotated[Join | State | Heartbeat | Leave, Field(discriminator="type")]
)


def parse(text: str) -> Join | State | Heartbeat | Leave:
    """The message in ``text``, or a ``ProtocolError`` saying what is wrong with it."""
    try:
        message: Join | State | Heartbeat | Leave = _ADAPTER.validate_json(text)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        if first["type"] == "json_invalid":
            raise ProtocolError("malformed-message", "The message is not JSON.") from None
        if first["type"] in ("union_tag_not_found", "union_tag_invalid", "model_type"):
            raise ProtocolError(
                "unknown-type", "The message needs a known 'type' (see the protocol)."
            ) from None
        where = ".".join(str(part) for part in first["loc"][1:]) or "message"
        raise ProtocolError("malformed-message", f"{where}: {first['msg']}") from None
    return message
