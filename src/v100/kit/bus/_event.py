"""The event envelope (CloudEvents-like: ``id, type, source, tenant_id, time, data``) and the
message a stream consumer receives around it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

__all__ = ["Event", "Message"]


def _now() -> datetime:
    return datetime.now(UTC)


def _new_id() -> str:
    return str(uuid.uuid4())


class Event(BaseModel):
    """One fact a service announces. ``id`` is stable across redeliveries, so consumers use it
    to stay idempotent; ``type`` is dotted (``video.upload.completed``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(default_factory=_new_id, min_length=1, max_length=200)
    type: str = Field(pattern=r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$", max_length=200)
    # The producing service, e.g. ``video_processing``.
    source: str = Field(min_length=1, max_length=200)
    # None for platform-wide events that belong to no tenant.
    tenant_id: str | None = None
    time: AwareDatetime = Field(default_factory=_now)
    data: dict[str, Any] = Field(default_factory=dict)

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_json(cls, raw: bytes | str) -> Event:
        return cls.model_validate_json(raw)


@dataclass(frozen=True, slots=True)
class Message:
    """One delivery of an event from a stream to a consumer of a group."""

    # The stream's own id of the entry (``<ms>-<seq>``); pass it to ``ack``.
    id: str
    stream: str
    event: Event
    # 1 on the first delivery, more when an unacknowledged message is delivered again; a
    # consumer can use it to give up on a message that keeps failing.
    delivery_count: int
