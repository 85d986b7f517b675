"""integration's request and response bodies (webhooks)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from v100.kit.http import Listing, refusing_null
from v100.kit.text import Line, Paragraphs
from v100.services.integration.filters import PATTERN

__all__ = [
    "AckRequest",
    "Acked",
    "AttemptOut",
    "AttemptPage",
    "DeadLetterPage",
    "DeliveryOut",
    "EndpointCreate",
    "EndpointCreated",
    "EndpointOut",
    "EndpointPage",
    "EndpointUpdate",
    "EventTypeOut",
    "EventTypePage",
    "GroupCreate",
    "GroupEventOut",
    "GroupEventPage",
    "GroupOut",
    "GroupPage",
    "GroupRead",
    "MessageOut",
    "MessagePage",
    "NotificationOut",
    "NotificationPage",
    "Queued",
    "RecoverRequest",
    "ReplayRequest",
    "SecretOut",
    "SecretRotation",
    "StreamEventOut",
    "StreamEventPage",
    "TestEvent",
]

_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")
# Set by the delivery itself, or meaningful to the connection: a tenant cannot override them.
_RESERVED_HEADERS = frozenset(
    {"host", "content-length", "content-type", "transfer-encoding", "connection", "keep-alive",
     "upgrade", "te", "trailer", "proxy-authorization", "proxy-connection", "user-agent",
     "accept-encoding", "expect"}
)  # fmt: skip
MAX_HEADERS = 20

EventPattern = Annotated[str, Field(min_length=1, max_length=200, pattern=PATTERN.pattern)]
Url = Annotated[str, Field(min_length=1, max_length=2048)]
Description = Annotated[Paragraphs, Field(max_length=1000)]
RateLimit = Annotated[int, Field(ge=1, le=10_000)]
HeaderValue = Annotated[Line, Field(max_length=1000)]


def _check_headers(headers: dict[str, str]) -> dict[str, str]:
    if len(headers) > MAX_HEADERS:
        raise ValueError(f"at most {MAX_HEADERS} headers")
    for name in headers:
        lowered = name.lower()
        if not _HEADER_NAME.match(name):
            raise ValueError(f"not a header name: {name[:100]!r}")
        if lowered in _RESERVED_HEADERS or lowered.startswith("webhook-"):
            raise ValueError(f"{name} is set by the delivery itself")
    return headers


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EndpointCreate(_In):
    url: Url
    description: Description = ""
    # Event types or wildcards (``video.*``); empty: every event.
    event_types: list[EventPattern] = Field(default_factory=list, max_length=100)
    enabled: bool = True
    headers: dict[str, HeaderValue] = Field(default_factory=dict)
    # Deliveries per second at most; none: as fast as the receiver answers.
    rate_limit: RateLimit | None = None
    # Deliver the events of one resource (a video, a recording) in order, one at a time.
    ordered: bool = False

    _headers = field_validator("headers")(_check_headers)


class EndpointUpdate(_In):
    url: Url | None = None
    description: Description | None = None
    event_types: list[EventPattern] | None = Field(default=None, max_length=100)
    enabled: bool | None = None
    headers: dict[str, HeaderValue] | None = None
    # null removes the limit.
    rate_limit: RateLimit | None = None
    ordered: bool | None = None

    _kept = refusing_null("url", "description", "event_types", "enabled", "headers", "ordered")

    @field_validator("headers")
    @classmethod
    def _valid_headers(cls, headers: dict[str, str] | None) -> dict[str, str] | None:
        return None if headers is None else _check_headers(headers)


class EndpointOut(BaseModel):
    id: str
    url: str
    description: str
    event_types: list[str]
    enabled: bool
    # gone (410), failing (for days), manual
    disabled_reason: str | None
    disabled_at: datetime | None
    headers: dict[str, str]
    rate_limit: int | None
    ordered: bool
    # When the current run of failures began (None: the last attempt succeeded).
    failing_since: datetime | None
    # Until then the previous secret signs too (after a rotation).
    previous_secret_expires_at: datetime | None
    created_at: datetime
    updated_at: datetime


class EndpointCreated(EndpointOut):
    # The signing secret (``whsec_...``); also at GET .../secret.
    secret: str


EndpointPage = Listing[EndpointOut]


class SecretOut(BaseModel):
    key: str
    previous_expires_at: datetime | None


class SecretRotation(_In):
    # How long the old secret keeps signing beside the new one (default: the setting, 24 h).
    overlap_seconds: int | None = Field(default=None, ge=0, le=7 * 24 * 3600)


class TestEvent(_In):
    event_type: EventPattern = "webhook.test"


class ReplayRequest(_In):
    since: AwareDatetime
    until: AwareDatetime | None = None


class RecoverRequest(_In):
    since: AwareDatetime
    until: AwareDatetime | None = None


class Queued(BaseModel):
    # Deliveries queued (again) by this call.
    queued: int


class DeliveryOut(BaseModel):
    id: str
    message_id: str
    endpoint_id: str
    event_type: str
    # pending, delivering, succeeded, failed (dead letter)
    status: Literal["pending", "delivering", "succeeded", "failed"]
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None
    failed_at: datetime | None
    created_at: datetime


class MessageOut(BaseModel):
    # The ``webhook-id`` of every attempt.
    id: str
    event_id: str
    event_type: str
    source: str
    resource_key: str | None
    occurred_at: datetime
    created_at: datetime
    # The body sent (``type``, ``timestamp``, ``data``).
    payload: dict[str, Any]
    deliveries: list[DeliveryOut] | None = None


MessagePage = Listing[MessageOut]


class AttemptOut(BaseModel):
    id: str
    message_id: str
    endpoint_id: str
    delivery_id: str
    event_type: str
    attempt: int
    outcome: Literal["succeeded", "failed"]
    status_code: int | None
    duration_ms: int
    response_excerpt: str | None
    error: str | None
    next_attempt_at: datetime | None
    created_at: datetime


AttemptPage = Listing[AttemptOut]
DeadLetterPage = Listing[DeliveryOut]


class NotificationOut(BaseModel):
    id: str
    kind: str
    subject: str
    body: str
    details: dict[str, Any]
    created_at: datetime
    sent_at: datetime | None


NotificationPage = Listing[NotificationOut]


class EventTypeOut(BaseModel):
    type: str
    description: str
    # JSON Schema of the event's ``data``.
    data_schema: dict[str, Any]


EventTypePage = Listing[EventTypeOut]


# -- the event stream ---------------------------------------------------------------------------


class StreamEventOut(BaseModel):
    # The stream position: pass it as ``cursor`` (or SSE's Last-Event-ID) to read on after it.
    id: str
    event_id: str
    type: str
    source: str
    time: datetime
    data: dict[str, Any]


StreamEventPage = Listing[StreamEventOut]


class GroupCreate(_In):
    name: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._-]+$")]
    event_types: list[EventPattern] = Field(default_factory=list, max_length=100)
    # earliest: every event still kept; latest: events from now on.
    start: Literal["earliest", "latest"] = "latest"


class GroupOut(BaseModel):
    id: str
    name: str
    event_types: list[str]
    created_at: datetime


GroupPage = Listing[GroupOut]


class GroupRead(_In):
    limit: int = Field(default=10, ge=1, le=100)
    # Seconds the events read stay hidden from other reads unless acknowledged (default: 30).
    visibility_timeout: int | None = Field(default=None, ge=1, le=12 * 3600)


class GroupEventOut(StreamEventOut):
    # How many reads have had this event (more than 1: it was not acknowledged in time).
    deliveries: int


GroupEventPage = Listing[GroupEventOut]


class AckRequest(_In):
    ids: list[Annotated[str, Field(min_length=1, max_length=36)]] = Field(
        min_length=1, max_length=500
    )


class Acked(BaseModel):
    acknowledged: int
