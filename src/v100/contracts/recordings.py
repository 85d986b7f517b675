"""What other services use of recording_processor: a typed async client, over
``kit.http.ServiceClient``, for a meeting's recordings (docs/adr/0057). The meeting service asks
for a recording of one of its meetings and gets back an upload capability: a signed, expiring
tus URL bound to that one recording, which the host's browser appends WebM chunks to with no
API key. It then reads where each recording stands (status, percent, and once ready the
presigned download links). The calls carry the platform scope ``service:recordings``, which no
tenant credential can hold; the tenant is the token's, so another tenant's recording is 404.

    recordings = connect_recordings(settings.recording_processor_url, settings.platform)
    made = await recordings.for_meeting(tenant_id, meeting_id, key=row.id, title="Weekly sync")
    made.upload_url  # give it to the recording page; aclose() the client at shutdown
    state = await recordings.media(tenant_id, made.recording_id)  # status, downloads
    states = await recordings.of_meeting(tenant_id, meeting_id)  # newest first, no links
    await recordings.end_upload(tenant_id, made.recording_id)  # stopped: keep what is stored

Refusals raise ``RecordingMissing`` (404) or ``RecordingsError``; no answer at all raises the
kit's ``UpstreamUnavailable``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field

from v100.contracts._calls import Refused, platform_tokens, problem_of
from v100.kit.auth import Principal
from v100.kit.http import ServiceClient
from v100.kit.settings import PlatformSettings
from v100.kit.text import Line

__all__ = [
    "END_UPLOAD_PATH",
    "MEDIA_PATH",
    "MEETING_RECORDINGS_PATH",
    "RECORDINGS_SCOPES",
    "MeetingRecordingCreate",
    "RecordingDownload",
    "RecordingMedia",
    "RecordingMediaList",
    "RecordingMissing",
    "RecordingsClient",
    "RecordingsError",
    "connect_recordings",
    "working_for",
]

RECORDINGS_SCOPES = frozenset({"service:recordings"})
MEETING_RECORDINGS_PATH = "/v1/recordings/meeting-recordings"
MEDIA_PATH = "/v1/recordings/{recording_id}/media"
END_UPLOAD_PATH = "/v1/recordings/{recording_id}/media/end-upload"

MediaStatus = Literal["uploading", "processing", "ready", "errored"]


def working_for(tenant_id: str) -> Principal:
    """The identity of a service's call about ``tenant_id``'s recordings."""
    return Principal(tenant_id=tenant_id, scopes=RECORDINGS_SCOPES, role="service")


class MeetingRecordingCreate(BaseModel):
    """``POST /v1/recordings/meeting-recordings`` (with an ``Idempotency-Key``: the caller's
    own id for the recording, so a retry answers the recording it made)."""

    model_config = ConfigDict(extra="forbid")
    meeting_id: Annotated[Line, Field(min_length=1, max_length=36)]
    title: Annotated[Line, Field(min_length=1, max_length=200)] = "Meeting recording"


class RecordingDownload(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    # mp4 (m4a for an audio-only recording), thumbnail, source
    kind: str
    url: str
    filename: str
    content_type: str
    size: int | None
    expires_at: datetime


class RecordingMedia(BaseModel):
    """Where a recording stands. ``upload_url`` is the capability (tus, Upload-Defer-Length),
    named only by the answer that made the recording and while it is ``uploading``."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    recording_id: str
    meeting_id: str | None
    status: MediaStatus
    stage: str
    percent: int
    # Bytes of the WebM stored so far (the tus upload's offset) while uploading.
    received: int | None = None
    upload_url: str | None = None
    upload_expires_at: datetime | None = None
    duration: float | None = None
    audio_only: bool | None = None
    error: str | None = None
    error_detail: str | None = None
    # Once ready: presigned links (they expire; ask again for fresh ones).
    downloads: list[RecordingDownload] = []


class RecordingMediaList(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    items: list[RecordingMedia]
    next_cursor: str | None = None


class RecordingsError(Refused):
    """recording_processor refused a call; ``problem`` is its RFC 9457 body."""


class RecordingMissing(RecordingsError):
    """No such recording for this tenant."""


class RecordingsClient:
    def __init__(self, client: ServiceClient) -> None:
        self._client = client

    async def aclose(self) -> None:
        await self._client.aclose()

    async def for_meeting(
        self, tenant_id: str, meeting_id: str, *, key: str, title: str
    ) -> RecordingMedia:
        """A new recording of the meeting with its upload capability (the same one again for
        the same ``key``)."""
        response = await self._client.request(
            "POST",
            MEETING_RECORDINGS_PATH,
            principal=working_for(tenant_id),
            headers={"Idempotency-Key": key},
            json=MeetingRecordingCreate(meeting_id=meeting_id, title=title).model_dump(),
        )
        return RecordingMedia.model_validate(_answer(response))

    async def media(self, tenant_id: str, recording_id: str) -> RecordingMedia:
        """One recording's state, with download links once ready."""
        path = MEDIA_PATH.format(recording_id=recording_id)
        response = await self._client.get(path, principal=working_for(tenant_id))
        return RecordingMedia.model_validate(_answer(response))

    async def end_upload(self, tenant_id: str, recording_id: str) -> RecordingMedia:
        """The meeting stopped the recording: end its upload at the bytes stored (a page that
        is gone never sends its last chunk), which starts processing them; a recording past
        uploading answers as it is. ``RecordingsError`` 423 while a chunk is still arriving."""
        path = END_UPLOAD_PATH.format(recording_id=recording_id)
        response = await self._client.request("POST", path, principal=working_for(tenant_id))
        return RecordingMedia.model_validate(_answer(response))

    async def of_meeting(self, tenant_id: str, meeting_id: str) -> list[RecordingMedia]:
        """The meeting's recordings (the newest 200), without links."""
        response = await self._client.get(
            MEETING_RECORDINGS_PATH,
            principal=working_for(tenant_id),
            params={"meeting_id": meeting_id, "limit": 200},
        )
        return RecordingMediaList.model_validate(_answer(response)).items


def connect_recordings(
    url: str,
    platform: PlatformSettings,
    *,
    timeout: float = 15.0,
    transport: httpx.AsyncBaseTransport | None = None,
) -> RecordingsClient:
    """A client of recording_processor at ``url`` that signs its calls with the platform's
    internal token secret; it owns its connections (``aclose``)."""
    tokens = platform_tokens(platform)
    return RecordingsClient(ServiceClient(url, tokens, timeout=timeout, transport=transport))


def _answer(response: httpx.Response) -> Any:
    if response.status_code < 400:
        return response.json()
    problem = problem_of(response)
    if response.status_code == 404:
        raise RecordingMissing(404, problem)
    raise RecordingsError(response.status_code, problem)
