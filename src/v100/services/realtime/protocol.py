"""The realtime protocol's wire shapes (docs/realtime.md): what a client may send, the errors it
is answered with, and the close codes (``kit.room_admission``'s, shared with
meeting_signaling). A message that cannot be understood is answered ``{"type": "error", "code",
"detail"}`` and the socket stays open."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

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
    "CHAT_MAX_CHARS",
    "CLOSE_BAD_JOIN",
    "CLOSE_FORBIDDEN",
    "CLOSE_JOIN_TIMEOUT",
    "CLOSE_LAGGING",
    "CLOSE_RATE_LIMITED",
    "CLOSE_UNAUTHORIZED",
    "Chat",
    "Heartbeat",
    "Join",
    "Leave",
    "ProtocolError",
    "State",
    "parse",
]


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


CHAT_MAX_CHARS = 2000


class Chat(_Message):
    """A chat message to everyone in the sender's room (kept in the room's log)."""

    type: Literal["chat"]
    text: str = Field(min_length=1, max_length=CHAT_MAX_CHARS)


class Heartbeat(_Message):
    type: Literal["heartbeat"]


class Leave(_Message):
    type: Literal["leave"]


_ADAPTER: TypeAdapter[Any] = TypeAdapter(
    Annotated[Join | State | Chat | Heartbeat | Leave, Field(discriminator="type")]
)


def parse(text: str) -> Join | State | Chat | Heartbeat | Leave:
    """The message in ``text``, or a ``ProtocolError`` saying what is wrong with it."""
    try:
        message: Join | State | Chat | Heartbeat | Leave = _ADAPTER.validate_json(text)
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
