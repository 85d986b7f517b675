"""Event types and payloads that cross service boundaries (DESIGN.md section 5), with the small
helpers services call to publish them. A consumer validates ``Event.data`` with the payload model
named next to the type, so producer and consumer agree on one schema."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from v100.kit.bus import Bus, Event
from v100.kit.errors import BackendUnavailable
from v100.kit.observability import get_logger

__all__ = [
    "CACHE_INVALIDATE",
    "CACHE_STREAM",
    "CLIP_ERRORED",
    "CLIP_READY",
    "CREDITS_EXHAUSTED",
    "CREDITS_LOW",
    "CREDITS_STREAM",
    "DOCUMENTS_STREAM",
    "DOCUMENT_EVENT_TYPES",
    "DOCUMENT_FAILED",
    "DOCUMENT_READY",
    "ENDPOINT_DISABLED",
    "EVENT_CATALOGUE",
    "KNOWLEDGE_BASES_STREAM",
    "KNOWLEDGE_BASE_CREATED",
    "KNOWLEDGE_BASE_DELETED",
    "KNOWLEDGE_BASE_DOCUMENT_ADDED",
    "KNOWLEDGE_BASE_DOCUMENT_REMOVED",
    "KNOWLEDGE_BASE_EVENT_TYPES",
    "MEDIA_JOB_EVENT_TYPES",
    "MEDIA_JOB_FAILED",
    "MEDIA_JOB_PROGRESS",
    "MEDIA_JOB_SUCCEEDED",
    "MEDIA_STREAM",
    "MEETINGS_STREAM",
    "MEETING_BROADCAST",
    "MEETING_DURABLE_EVENT_TYPES",
    "MEETING_ENDED",
    "MEETING_LOCKED",
    "MEETING_MEDIA_CHANGED",
    "MEETING_PARTICIPANT_ADMITTED",
    "MEETING_PARTICIPANT_DENIED",
    "MEETING_PARTICIPANT_JOINED",
    "MEETING_PARTICIPANT_LEFT",
    "MEETING_PARTICIPANT_MOVED",
    "MEETING_PARTICIPANT_MUTE_REQUESTED",
    "MEETING_PARTICIPANT_WAITING",
    "MEETING_RECORDING_STARTED",
    "MEETING_RECORDING_STOPPED",
    "MEETING_STARTED",
    "MEETING_UNLOCKED",
    "RECORDINGS_STREAM",
    "RECORDING_ERRORED",
    "RECORDING_PROGRESS",
    "RECORDING_READY",
    "RECORDING_UPLOADED",
    "SMS_CANCELED",
    "SMS_DELIVERED",
    "SMS_FAILED",
    "SMS_OPTED_IN",
    "SMS_OPTED_OUT",
    "SMS_QUEUED",
    "SMS_SENT",
    "SMS_STATUS_EVENTS",
    "SMS_STREAM",
    "SMS_UNDELIVERED",
    "SUBSCRIPTIONS_STREAM",
    "SUBSCRIPTION_CHANGED",
    "TENANT_EVENT_STREAMS",
    "TRANSCRIPTS_STREAM",
    "TRANSCRIPT_COMPLETED",
    "TRANSCRIPT_EVENT_TYPES",
    "TRANSCRIPT_FAILED",
    "VIDEO_ERRORED",
    "VIDEO_EVENT_TYPES",
    "VIDEO_PROGRESS",
    "VIDEO_PROGRESS_CHANNEL",
    "VIDEO_READY",
    "VIDEO_RENDITION_READY",
    "VIDEO_STREAM",
    "VIDEO_UPLOAD_COMPLETED",
    "WEBHOOKS_STREAM",
    "AnalysisEventData",
    "AnalysisProgress",
    "CacheInvalidation",
    "ClipEventData",
    "CreditsBalance",
    "DocumentEventData",
    "EndpointDisabled",
    "EventKind",
    "KnowledgeBaseEventData",
    "MediaErrorInfo",
    "MediaJobEventData",
    "MediaJobProgress",
    "MeetingEventData",
    "MeetingParticipantInfo",
    "RecordingChanged",
    "RecordingStage",
    "RecordingStatus",
    "RenditionInfo",
    "SmsMessageChanged",
    "SmsOptOutChanged",
    "SubscriptionChange",
    "SubscriptionChanged",
    "TranscriptEventData",
    "VideoEventData",
    "VideoProgress",
    "analysis_progress_channel",
    "cache_invalidation_event",
    "media_progress_channel",
    "meeting_live_channel",
    "publish_analysis_event",
    "publish_analysis_progress",
    "publish_cache_invalidation",
    "publish_document_event",
    "publish_knowledge_base_event",
    "publish_media_job_event",
    "publish_media_job_progress",
    "publish_subscription_changed",
    "publish_transcript_event",
    "publish_video_event",
    "publish_video_progress",
    "recording_progress_channel",
    "video_progress_channel",
]

_log = get_logger("v100.contracts.events")

# --- the gateway's response cache ---------------------------------------------------------------

# Durable, so an invalidation published while no gateway runs is applied when one starts.
CACHE_STREAM = "cache"
CACHE_INVALIDATE = "cache.invalidate"
_MAX_PREFIXES = 100
_MAX_PREFIX_LENGTH = 2048


class CacheInvalidation(BaseModel):
    """``data`` of ``cache.invalidate``: drop what the gateway cached under these public path
    prefixes (on segment boundaries: ``/v1/videos/1`` covers ``/v1/videos/1/clips`` but not
    ``/v1/videos/12``; ``/`` covers everything), for the event's tenant, or for every tenant
    when the event has none. Paths are written as they appear in URLs (percent-encoded)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    prefixes: tuple[str, ...] = Field(min_length=1, max_length=_MAX_PREFIXES)

    @field_validator("prefixes")
    @classmethod
    def _normalized(cls, prefixes: tuple[str, ...]) -> tuple[str, ...]:
        out: list[str] = []
        for prefix in prefixes:
            if not prefix.startswith("/") or len(prefix) > _MAX_PREFIX_LENGTH:
                raise ValueError(
                    f"a prefix is an absolute path of 2048 characters at most: {prefix!r}"[:300]
                )
            if "?" in prefix or "#" in prefix:
                raise ValueError(f"a prefix is a path, without query or fragment: {prefix!r}")
            out.append(prefix.rstrip("/") or "/")
        return tuple(dict.fromkeys(out))


def cache_invalidation_event(
    *, source: str, tenant_id: str | None, prefixes: Iterable[str]
) -> Event:
    payload = CacheInvalidation(prefixes=tuple(prefixes))
    return Event(
        type=CACHE_INVALIDATE,
        source=source,
        tenant_id=tenant_id,
        data=payload.model_dump(mode="json"),
    )


async def publish_cache_invalidation(
    bus: Bus, *, source: str, tenant_id: str | None, prefixes: Iterable[str]
) -> bool:
    """Tell every gateway that the resources under ``prefixes`` changed; call it after the
    change is committed (``session_hooks(session).after_commit(...)``). Best effort by design:
    the change is already committed, so an unreachable bus is logged and answered False rather
    than failing the caller's request; cached answers then live out their ``max-age``."""
    event = cache_invalidation_event(source=source, tenant_id=tenant_id, prefixes=prefixes)
    try:
        await bus.publish(CACHE_STREAM, event)
    except BackendUnavailable as exc:
        _log.warning(
            "cache invalidation not published",
            source=source,
            tenant_id=tenant_id,
            prefixes=list(event.data["prefixes"]),
            error=str(exc),
        )
        return False
    return True


# --- billing_engine's subscriptions -------------------------------------------------------------

# Durable: a gateway that was away when a plan changed still drops its cached tier when it reads.
SUBSCRIPTIONS_STREAM = "subscriptions"
SUBSCRIPTION_CHANGED = "subscription.changed"
SubscriptionChange = Literal[
    "created", "activated", "plan_changed", "cancel_scheduled", "renewed", "canceled"
]


class SubscriptionChanged(BaseModel):
    """``data`` of ``subscription.changed`` (the event's ``tenant_id`` is the subscriber): a
    subscription started, changed plan, was set to cancel, renewed or ended. ``tier`` is the
    tier the tenant has once this change is in force ("free" once canceled); consumers that
    cache it should still re-read it (``BillingEngineClient.tier``), since events of one
    subscription may arrive out of order."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    subscription_id: str
    change: SubscriptionChange
    plan: str
    tier: str
    status: str


async def publish_subscription_changed(
    bus: Bus, *, source: str, tenant_id: str, payload: SubscriptionChanged
) -> bool:
    """Announce a subscription change; call it after the change is committed. Best effort like
    ``publish_cache_invalidation``: an unreachable bus is logged and answered False (readers of
    the tier then see the change when their cached value expires)."""
    event = Event(
        type=SUBSCRIPTION_CHANGED,
        source=source,
        tenant_id=tenant_id,
        data=payload.model_dump(mode="json"),
    )
    try:
        await bus.publish(SUBSCRIPTIONS_STREAM, event)
    except BackendUnavailable as exc:
        _log.warning(
            "subscription change not published",
            tenant_id=tenant_id,
            subscription_id=payload.subscription_id,
            change=payload.change,
            error=str(exc),
        )
        return False
    return True


# --- recording_processor's recordings -----------------------------------------------------------

# Durable: recording.uploaded, recording.progress (once per stage), recording.ready and
# recording.errored. Every percent step also goes, as the same envelope, to the ephemeral
# channel ``recording_progress_channel(recording_id)`` (a WebSocket follows it live).
RECORDINGS_STREAM = "recordings"
RECORDING_UPLOADED = "recording.uploaded"
RECORDING_PROGRESS = "recording.progress"
RECORDING_READY = "recording.ready"
RECORDING_ERRORED = "recording.errored"
RecordingStatus = Literal["uploading", "processing", "ready", "errored"]
RecordingStage = Literal[
    "uploading", "queued", "probing", "transcoding", "thumbnail", "storing", "ready", "errored"
]


class RecordingChanged(BaseModel):
    """``data`` of every ``recording.*`` event: where the recording stands. ``percent`` is the
    whole pipeline's (0-100; upload progress while ``stage`` is ``uploading``); ``error`` is the
    problem type slug and ``detail`` its reason once errored."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    recording_id: str
    meeting_id: str | None = None
    status: RecordingStatus
    stage: RecordingStage
    percent: int = Field(ge=0, le=100)
    error: str | None = None
    detail: str | None = None


def recording_progress_channel(recording_id: str) -> str:
    """The ephemeral pub/sub channel of one recording's progress."""
    return f"recordings.progress.{recording_id}"


# --- video_processing's videos and clips --------------------------------------------------------

# Durable: the integration service turns these into webhooks; analysis starts on video.ready.
VIDEO_STREAM = "video"
# Ephemeral (pub/sub) progress of one tenant's processing, newest news only.
VIDEO_PROGRESS_CHANNEL = "video.progress"
VIDEO_UPLOAD_COMPLETED = "video.upload.completed"
VIDEO_RENDITION_READY = "video.rendition.ready"
VIDEO_READY = "video.ready"
VIDEO_ERRORED = "video.errored"
VIDEO_PROGRESS = "video.progress"
CLIP_READY = "clip.ready"
CLIP_ERRORED = "clip.errored"
VIDEO_EVENT_TYPES = frozenset(
    {VIDEO_UPLOAD_COMPLETED, VIDEO_RENDITION_READY, VIDEO_READY, VIDEO_ERRORED, CLIP_READY,
     CLIP_ERRORED}
)  # fmt: skip


class MediaErrorInfo(BaseModel):
    """Why a video or clip errored: a stable ``type`` slug and a sentence for people."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    type: str
    detail: str


class RenditionInfo(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    name: str
    kind: str
    width: int | None = None
    height: int | None = None
    bitrate: int | None = None


class VideoEventData(BaseModel):
    """``data`` of every ``video.*`` durable event: the video as the API shows it (as Mux puts
    the asset in ``data``), so a consumer needs no read-back. ``video.rendition.ready`` also
    names the ``rendition`` that became ready."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str
    status: Literal["uploading", "processing", "ready", "errored"]
    project_id: str | None = None
    passthrough: str | None = None
    duration: float | None = None
    aspect_ratio: str | None = None
    max_resolution: str | None = None
    upload_id: str | None = None
    renditions: list[RenditionInfo] = Field(default_factory=list)
    rendition: RenditionInfo | None = None
    error: MediaErrorInfo | None = None


class ClipEventData(BaseModel):
    """``data`` of ``clip.ready`` and ``clip.errored``."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str
    video_id: str
    status: Literal["processing", "ready", "errored"]
    start: float
    end: float
    mode: str
    platform: str | None = None
    duration: float | None = None
    error: MediaErrorInfo | None = None
    # A smart clip of an analysis's highlight (ADR 0060): the analysis, the highlight (this
    # service's id), the aspect, and what was rendered (after auto-trim).
    analysis_id: str | None = None
    highlight_id: str | None = None
    aspect: str | None = None
    rendered_start: float | None = None
    rendered_end: float | None = None


class VideoProgress(BaseModel):
    """Payload of a ``video.progress`` ephemeral message (``subject`` is a video or a clip)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    type: Literal["video.progress"] = "video.progress"
    tenant_id: str
    subject: Literal["video", "clip"] = "video"
    id: str
    percent: int
    stage: str


async def publish_video_event(
    bus: Bus,
    event_type: str,
    *,
    tenant_id: str,
    payload: VideoEventData | ClipEventData,
    stream: str = VIDEO_STREAM,
) -> bool:
    """Announce a video or clip status change; call it after the change is committed. Best
    effort like the others: an unreachable bus is logged and answered False (the resource
    itself always shows its status)."""
    return await _publish_settled(
        bus, stream, VIDEO_EVENT_TYPES, "video_processing", event_type,
        tenant_id=tenant_id, payload_id=payload.id, data=payload,
    )  # fmt: skip


def video_progress_channel(tenant_id: str) -> str:
    """The pub/sub channel of one tenant's ``video.progress`` messages."""
    return f"{VIDEO_PROGRESS_CHANNEL}.{tenant_id}"


async def publish_video_progress(bus: Bus, progress: VideoProgress) -> None:
    """Tell whoever listens how far processing is; dropped silently when the bus is away."""
    with contextlib.suppress(BackendUnavailable):
        await bus.publish_ephemeral(
            video_progress_channel(progress.tenant_id), progress.model_dump_json()
        )


# --- media_processor's media jobs ---------------------------------------------------------------

# Durable: media.job.succeeded and media.job.failed on the ``media`` stream. Percent steps go
# to the tenant's ephemeral channel ``media_progress_channel(tenant_id)`` as MediaJobProgress.
MEDIA_STREAM = "media"
MEDIA_JOB_SUCCEEDED = "media.job.succeeded"
MEDIA_JOB_FAILED = "media.job.failed"
MEDIA_JOB_PROGRESS = "media.job.progress"
MEDIA_JOB_EVENT_TYPES = frozenset({MEDIA_JOB_SUCCEEDED, MEDIA_JOB_FAILED})


class MediaJobEventData(BaseModel):
    """``data`` of ``media.job.succeeded`` and ``media.job.failed``: the job as the API shows it
    (without its download URL, which expires; read the job for one)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str
    status: Literal["queued", "running", "succeeded", "failed"]
    operation: str
    input: str
    output_size: int | None = None
    output_content_type: str | None = None
    credits_charged: int | None = None
    error: MediaErrorInfo | None = None


class MediaJobProgress(BaseModel):
    """Payload of a ``media.job.progress`` ephemeral message."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    type: Literal["media.job.progress"] = "media.job.progress"
    tenant_id: str
    id: str
    percent: int = Field(ge=0, le=100)


def media_progress_channel(tenant_id: str) -> str:
    """The pub/sub channel of one tenant's ``media.job.progress`` messages."""
    return f"media.progress.{tenant_id}"


async def publish_media_job_event(
    bus: Bus, event_type: str, *, tenant_id: str, payload: MediaJobEventData
) -> bool:
    """Announce that a media job settled; call it after the change is committed. Best effort:
    an unreachable bus is logged and answered False (the job shows its status anyway)."""
    return await _publish_settled(
        bus, MEDIA_STREAM, MEDIA_JOB_EVENT_TYPES, "media_processor", event_type,
        tenant_id=tenant_id, payload_id=payload.id, data=payload,
    )  # fmt: skip


async def publish_media_job_progress(bus: Bus, progress: MediaJobProgress) -> None:
    """Tell whoever listens how far a media job is; dropped silently when the bus is away."""
    with contextlib.suppress(BackendUnavailable):
        await bus.publish_ephemeral(
            media_progress_channel(progress.tenant_id), progress.model_dump_json()
        )


# --- transcription's transcripts ---------------------------------------------------------------

# Durable: a transcript settled (completed or failed).
TRANSCRIPTS_STREAM = "transcripts"
TRANSCRIPT_COMPLETED = "transcript.completed"
TRANSCRIPT_FAILED = "transcript.failed"
TRANSCRIPT_EVENT_TYPES = frozenset({TRANSCRIPT_COMPLETED, TRANSCRIPT_FAILED})


class TranscriptEventData(BaseModel):
    """``data`` of ``transcript.completed`` and ``transcript.failed``: the transcript's summary
    (read ``GET /v1/transcripts/{id}`` for its words and segments)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str
    status: Literal["completed", "failed"]
    source: Literal["url", "upload", "video", "live"]
    # A stored video's transcript: the video's id, and whether the tenant's automatic
    # transcription made it (its captions are then attached to the video).
    video_id: str | None = None
    automatic: bool = False
    backend: str
    language: str | None = None
    language_probability: float | None = None
    duration: float | None = None
    word_count: int | None = None
    credits_charged: int | None = None
    error: MediaErrorInfo | None = None


async def publish_transcript_event(
    bus: Bus, event_type: str, *, tenant_id: str, payload: TranscriptEventData
) -> bool:
    """Announce that a transcript settled; call it after the change is committed. Best effort:
    an unreachable bus is logged and answered False (the transcript shows its status anyway)."""
    return await _publish_settled(
        bus, TRANSCRIPTS_STREAM, TRANSCRIPT_EVENT_TYPES, "transcription", event_type,
        tenant_id=tenant_id, payload_id=payload.id, data=payload,
    )  # fmt: skip


async def _publish_settled(
    bus: Bus,
    stream: str,
    allowed: frozenset[str],
    source: str,
    event_type: str,
    *,
    tenant_id: str,
    payload_id: str,
    data: BaseModel,
) -> bool:
    """One durable event about a resource that settled, published best effort: an unreachable
    bus is logged and answered False (the resource shows its status anyway)."""
    if event_type not in allowed:
        raise ValueError(f"not a {stream} event type: {event_type!r}")
    event = Event(
        type=event_type,
        source=source,
        tenant_id=tenant_id,
        data=data.model_dump(mode="json", exclude_none=True),
    )
    try:
        await bus.publish(stream, event)
    except BackendUnavailable as exc:
        _log.warning(
            f"{stream} event not published", type=event_type, id=payload_id, error=str(exc)
        )
        return False
    return True


# --- rag_engine's documents --------------------------------------------------------------------

# Durable: a document's ingestion settled (ready to search, or failed).
DOCUMENTS_STREAM = "documents"
DOCUMENT_READY = "document.ready"
DOCUMENT_FAILED = "document.failed"
DOCUMENT_EVENT_TYPES = frozenset({DOCUMENT_READY, DOCUMENT_FAILED})


class DocumentEventData(BaseModel):
    """``data`` of ``document.ready`` and ``document.failed``: the document's summary (read
    ``GET /v1/documents/{id}`` for the rest). ``revision`` counts its versions: 2 and more is a
    re-ingestion of changed content."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str
    knowledge_base_id: str
    status: Literal["ready", "failed"]
    revision: int
    format: Literal["text", "markdown", "html", "pdf", "transcript"]
    title: str | None = None
    external_id: str | None = None
    chunk_count: int | None = None
    token_count: int | None = None
    credits_charged: int | None = None
    error: MediaErrorInfo | None = None


async def publish_document_event(
    bus: Bus, event_type: str, *, tenant_id: str, payload: DocumentEventData
) -> bool:
    """Announce that a document settled; call it after the change is committed. Best effort:
    an unreachable bus is logged and answered False (the document shows its status anyway)."""
    return await _publish_settled(
        bus, DOCUMENTS_STREAM, DOCUMENT_EVENT_TYPES, "rag_engine", event_type,
        tenant_id=tenant_id, payload_id=payload.id, data=payload,
    )  # fmt: skip


# --- ai_orchestration's knowledge bases -------------------------------------------------------

# Durable: a knowledge base made or deleted, a document given to it or taken out. Whether a
# document became searchable is rag_engine's ``document.ready`` / ``document.failed`` (its
# ``knowledge_base_id`` names the knowledge base), not repeated here.
KNOWLEDGE_BASES_STREAM = "knowledge_bases"
KNOWLEDGE_BASE_CREATED = "knowledge_base.created"
KNOWLEDGE_BASE_DELETED = "knowledge_base.deleted"
KNOWLEDGE_BASE_DOCUMENT_ADDED = "knowledge_base.document.added"
KNOWLEDGE_BASE_DOCUMENT_REMOVED = "knowledge_base.document.removed"
KNOWLEDGE_BASE_EVENT_TYPES = frozenset({
    KNOWLEDGE_BASE_CREATED, KNOWLEDGE_BASE_DELETED, KNOWLEDGE_BASE_DOCUMENT_ADDED,
    KNOWLEDGE_BASE_DOCUMENT_REMOVED,
})  # fmt: skip


class KnowledgeBaseEventData(BaseModel):
    """``data`` of the ``knowledge_base.*`` events: the knowledge base (``id``, ``name``, its
    embedding model and dimension), and for ``knowledge_base.document.*`` the document
    (``document_id``; ``document_status``, ``document_format`` and ``document_title`` as
    rag_engine accepted it, for ``added``)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str
    name: str
    embedding_model: str | None = None
    dimension: int | None = None
    document_id: str | None = None
    document_status: str | None = None
    document_format: str | None = None
    document_title: str | None = None


async def publish_knowledge_base_event(
    bus: Bus, event_type: str, *, tenant_id: str, payload: KnowledgeBaseEventData
) -> bool:
    """Announce a change to a knowledge base; call it after the change is committed. Best
    effort: an unreachable bus is logged and answered False."""
    return await _publish_settled(
        bus, KNOWLEDGE_BASES_STREAM, KNOWLEDGE_BASE_EVENT_TYPES, "ai_orchestration", event_type,
        tenant_id=tenant_id, payload_id=payload.document_id or payload.id, data=payload,
    )  # fmt: skip


# --- video_analysis's analyses -----------------------------------------------------------------

# Durable: an analysis settled (completed or failed).
ANALYSES_STREAM = "analyses"
ANALYSIS_COMPLETED = "analysis.completed"
ANALYSIS_FAILED = "analysis.failed"
ANALYSIS_EVENT_TYPES = frozenset({ANALYSIS_COMPLETED, ANALYSIS_FAILED})


class AnalysisEventData(BaseModel):
    """``data`` of ``analysis.completed`` and ``analysis.failed``: the analysis's summary (read
    ``GET /v1/analyses/{id}`` and its result routes for the rest). ``skipped`` names the stages
    that could not run on this video, with why."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str
    video_id: str
    status: Literal["completed", "failed"]
    stages: list[str]
    skipped: dict[str, str] = {}
    duration: float | None = None
    credits_charged: int | None = None
    error: MediaErrorInfo | None = None


class AnalysisProgress(BaseModel):
    """Live (pub/sub, ``analysis_progress_channel``): where a running analysis stands, stage
    by stage (percent 0-100 each), and the whole's percent."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str
    tenant_id: str
    status: Literal["queued", "running", "completed", "failed"]
    stage: str | None
    percent: int
    stages: dict[str, int]


def analysis_progress_channel(analysis_id: str) -> str:
    return f"analysis-progress:{analysis_id}"


async def publish_analysis_event(
    bus: Bus, event_type: str, *, tenant_id: str, payload: AnalysisEventData
) -> bool:
    """Announce that an analysis settled; call it after the change is committed. Best effort:
    an unreachable bus is logged and answered False (the analysis shows its status anyway)."""
    return await _publish_settled(
        bus, ANALYSES_STREAM, ANALYSIS_EVENT_TYPES, "video_analysis", event_type,
        tenant_id=tenant_id, payload_id=payload.id, data=payload,
    )  # fmt: skip


async def publish_analysis_progress(bus: Bus, progress: AnalysisProgress) -> None:
    """A live step, best effort (the row is the truth)."""
    try:
        await bus.publish_ephemeral(
            analysis_progress_channel(progress.id), progress.model_dump_json()
        )
    except BackendUnavailable as exc:
        _log.warning("analysis progress not published", id=progress.id, error=str(exc))


# --- billing's credit balance -------------------------------------------------------------------

# Durable (billing's ``events_stream`` setting names it; this is its default).
CREDITS_STREAM = "credits"
CREDITS_LOW = "credits.low"
CREDITS_EXHAUSTED = "credits.exhausted"


class CreditsBalance(BaseModel):
    """``data`` of ``credits.low`` and ``credits.exhausted``: the available balance after the
    crossing, the balance before it and the threshold in force."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    available: int
    previous: int
    threshold: int


# --- integration's webhook endpoints ------------------------------------------------------------

# Durable: operational events about a tenant's webhook endpoints.
WEBHOOKS_STREAM = "webhooks"
ENDPOINT_DISABLED = "endpoint.disabled"


class EndpointDisabled(BaseModel):
    """``data`` of ``endpoint.disabled``: an endpoint stopped receiving deliveries, because its
    receiver answered 410 Gone (``gone``) or failed every attempt for the configured period
    (``failing``). ``failing_since`` is when its failures began."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    endpoint_id: str
    url: str
    reason: Literal["gone", "failing"]
    failing_since: str | None = None


# --- integration's SMS --------------------------------------------------------------------------

# Durable: each change of an SMS message's status, and each opt-out or opt-in (docs/integration.md).
SMS_STREAM = "sms"
SMS_QUEUED = "sms.queued"
SMS_SENT = "sms.sent"
SMS_DELIVERED = "sms.delivered"
SMS_UNDELIVERED = "sms.undelivered"
SMS_FAILED = "sms.failed"
SMS_CANCELED = "sms.canceled"
SMS_OPTED_OUT = "sms.opted_out"
SMS_OPTED_IN = "sms.opted_in"
# The message statuses that have an event, ``sms.<status>``.
SMS_STATUS_EVENTS: dict[str, str] = {
    "queued": SMS_QUEUED,
    "sent": SMS_SENT,
    "delivered": SMS_DELIVERED,
    "undelivered": SMS_UNDELIVERED,
    "failed": SMS_FAILED,
    "canceled": SMS_CANCELED,
}


class SmsMessageChanged(BaseModel):
    """``data`` of ``sms.<status>``: where a message stands. ``error_code`` is Twilio's
    (21211 invalid number, 21610 unsubscribed recipient, 30003 unreachable handset, ...)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str
    status: Literal["queued", "sent", "delivered", "undelivered", "failed", "canceled"]
    to: str
    from_number: str | None = None
    messaging_service_sid: str | None = None
    sender_id: str | None = None
    reference: str | None = None
    twilio_sid: str | None = None
    error_code: int | None = None
    error_message: str | None = None


class SmsOptOutChanged(BaseModel):
    """``data`` of ``sms.opted_out`` and ``sms.opted_in``: a recipient texted a keyword (STOP,
    START, ...) to one of the tenant's senders, or Twilio refused a send as unsubscribed."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    phone_number: str
    sender_address: str
    sender_id: str | None = None
    keyword: str


# --- meeting's meetings -------------------------------------------------------------------------

# Durable: a meeting started or ended, a participant joined, left, was admitted from or denied at
# the waiting room or moved between rooms, a recording started or stopped. Every meeting event,
# these and the live-only ones below, also goes as the same envelope to the meeting's ephemeral
# channel ``meeting_live_channel(meeting_id)`` (for the realtime service and live pages).
MEETINGS_STREAM = "meetings"
MEETING_STARTED = "meeting.started"
MEETING_ENDED = "meeting.ended"
MEETING_PARTICIPANT_JOINED = "meeting.participant.joined"
MEETING_PARTICIPANT_LEFT = "meeting.participant.left"
MEETING_PARTICIPANT_ADMITTED = "meeting.participant.admitted"
MEETING_PARTICIPANT_DENIED = "meeting.participant.denied"
MEETING_PARTICIPANT_MOVED = "meeting.participant.moved"
MEETING_RECORDING_STARTED = "meeting.recording.started"
MEETING_RECORDING_STOPPED = "meeting.recording.stopped"
MEETING_DURABLE_EVENT_TYPES = frozenset(
    {MEETING_STARTED, MEETING_ENDED, MEETING_PARTICIPANT_JOINED, MEETING_PARTICIPANT_LEFT,
     MEETING_PARTICIPANT_ADMITTED, MEETING_PARTICIPANT_DENIED, MEETING_PARTICIPANT_MOVED,
     MEETING_RECORDING_STARTED, MEETING_RECORDING_STOPPED}
)  # fmt: skip
# Live only (the ephemeral channel): someone knocked at the waiting room, a host asked someone to
# mute, a message to every breakout room, the meeting was locked or unlocked.
MEETING_PARTICIPANT_WAITING = "meeting.participant.waiting"
MEETING_PARTICIPANT_MUTE_REQUESTED = "meeting.participant.mute_requested"
MEETING_BROADCAST = "meeting.broadcast"
MEETING_LOCKED = "meeting.locked"
MEETING_UNLOCKED = "meeting.unlocked"
# A room went through the SFU (``media`` "sfu") or back to peer-to-peer ("mesh"): ADR 0058.
MEETING_MEDIA_CHANGED = "meeting.media.changed"


class MeetingParticipantInfo(BaseModel):
    """A participant as meeting events name it."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str
    name: str
    role: Literal["host", "co-host", "participant", "viewer"]
    status: Literal["invited", "waiting", "joined", "left", "denied", "removed"]
    # "main" or a breakout room's id.
    room: str


class MeetingEventData(BaseModel):
    """``data`` of every ``meeting.*`` event. ``sequence`` counts the meeting's events from 1 in
    the order their changes were committed: a consumer orders by it, and a gap tells it that it
    missed one (durable and live-only events share the counter, so the durable stream alone has
    gaps where live-only events went by). ``status`` is the meeting's after the change."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    meeting_id: str
    sequence: int = Field(ge=1)
    status: Literal["scheduled", "live", "ended"]
    participant: MeetingParticipantInfo | None = None
    # moved: the room the participant left; left: "left", "removed" or "ended".
    from_room: str | None = None
    reason: str | None = None
    recording_id: str | None = None
    # broadcast: the text; mute_requested: "audio" or "video".
    message: str | None = None
    kind: str | None = None
    # media.changed: the room ("main" or a breakout room's id) and its media path now.
    room: str | None = None
    media: Literal["mesh", "sfu"] | None = None


def meeting_live_channel(meeting_id: str) -> str:
    """The ephemeral pub/sub channel of one meeting's events."""
    return f"meetings.live.{meeting_id}"


# --- the catalogue of tenant-facing events ------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class EventKind:
    """One event type a tenant can receive (by webhook and on the event stream): the stream it
    travels on, what it means, and the model of its ``data``."""

    event_type: str
    stream: str
    description: str
    payload: type[BaseModel]


_KINDS = (
    EventKind(event_type=VIDEO_UPLOAD_COMPLETED, stream=VIDEO_STREAM, payload=VideoEventData,
              description="A video's upload finished; processing starts."),
    EventKind(event_type=VIDEO_RENDITION_READY, stream=VIDEO_STREAM, payload=VideoEventData,
              description="One rendition of a video can be played."),
    EventKind(event_type=VIDEO_READY, stream=VIDEO_STREAM, payload=VideoEventData,
              description="A video is processed and playable."),
    EventKind(event_type=VIDEO_ERRORED, stream=VIDEO_STREAM, payload=VideoEventData,
              description="A video could not be processed."),
    EventKind(event_type=CLIP_READY, stream=VIDEO_STREAM, payload=ClipEventData,
              description="A clip is rendered."),
    EventKind(event_type=CLIP_ERRORED, stream=VIDEO_STREAM, payload=ClipEventData,
              description="A clip could not be rendered."),
    EventKind(event_type=MEDIA_JOB_SUCCEEDED, stream=MEDIA_STREAM, payload=MediaJobEventData,
              description="A media job finished."),
    EventKind(event_type=MEDIA_JOB_FAILED, stream=MEDIA_STREAM, payload=MediaJobEventData,
              description="A media job failed."),
    EventKind(event_type=TRANSCRIPT_COMPLETED, stream=TRANSCRIPTS_STREAM,
              payload=TranscriptEventData,
              description="A transcript is ready: its text, words and language can be read."),
    EventKind(event_type=TRANSCRIPT_FAILED, stream=TRANSCRIPTS_STREAM, payload=TranscriptEventData,
              description="A transcript could not be made (bad media, a refused URL, credits)."),
    EventKind(event_type=DOCUMENT_READY, stream=DOCUMENTS_STREAM, payload=DocumentEventData,
              description="A document is ingested: its passages can be searched."),
    EventKind(event_type=DOCUMENT_FAILED, stream=DOCUMENTS_STREAM, payload=DocumentEventData,
              description="A document could not be ingested (unreadable, empty, credits)."),
    EventKind(event_type=KNOWLEDGE_BASE_CREATED, stream=KNOWLEDGE_BASES_STREAM,
              payload=KnowledgeBaseEventData,
              description="A knowledge base was made, with its embedding model."),
    EventKind(event_type=KNOWLEDGE_BASE_DELETED, stream=KNOWLEDGE_BASES_STREAM,
              payload=KnowledgeBaseEventData,
              description="A knowledge base was deleted with every document and passage."),
    EventKind(event_type=KNOWLEDGE_BASE_DOCUMENT_ADDED, stream=KNOWLEDGE_BASES_STREAM,
              payload=KnowledgeBaseEventData,
              description="A document was given to a knowledge base (queued for ingestion)."),
    EventKind(event_type=KNOWLEDGE_BASE_DOCUMENT_REMOVED, stream=KNOWLEDGE_BASES_STREAM,
              payload=KnowledgeBaseEventData,
              description="A document was taken out of a knowledge base with its passages."),
    EventKind(event_type=ANALYSIS_COMPLETED, stream=ANALYSES_STREAM, payload=AnalysisEventData,
              description="A video analysis finished: its scenes, faces, speech can be read."),
    EventKind(event_type=ANALYSIS_FAILED, stream=ANALYSES_STREAM, payload=AnalysisEventData,
              description="A video analysis failed (the video went away, bad media, credits)."),
    EventKind(event_type=RECORDING_UPLOADED, stream=RECORDINGS_STREAM, payload=RecordingChanged,
              description="A recording's content was received; processing is queued."),
    EventKind(event_type=RECORDING_PROGRESS, stream=RECORDINGS_STREAM, payload=RecordingChanged,
              description="A recording's processing entered a new stage."),
    EventKind(event_type=RECORDING_READY, stream=RECORDINGS_STREAM, payload=RecordingChanged,
              description="A recording's MP4 and thumbnail are ready."),
    EventKind(event_type=RECORDING_ERRORED, stream=RECORDINGS_STREAM, payload=RecordingChanged,
              description="A recording could not be processed."),
    EventKind(event_type=MEETING_STARTED, stream=MEETINGS_STREAM, payload=MeetingEventData,
              description="A meeting went live (made instant, or its first participant joined)."),
    EventKind(event_type=MEETING_ENDED, stream=MEETINGS_STREAM, payload=MeetingEventData,
              description="A meeting ended; everyone in it left."),
    EventKind(event_type=MEETING_PARTICIPANT_JOINED, stream=MEETINGS_STREAM,
              payload=MeetingEventData, description="A participant entered a meeting."),
    EventKind(event_type=MEETING_PARTICIPANT_LEFT, stream=MEETINGS_STREAM,
              payload=MeetingEventData,
              description="A participant left a meeting (or was removed, or the meeting ended)."),
    EventKind(event_type=MEETING_PARTICIPANT_ADMITTED, stream=MEETINGS_STREAM,
              payload=MeetingEventData,
              description="A host admitted a participant from the waiting room."),
    EventKind(event_type=MEETING_PARTICIPANT_DENIED, stream=MEETINGS_STREAM,
              payload=MeetingEventData,
              description="A host turned a participant away from the waiting room."),
    EventKind(event_type=MEETING_PARTICIPANT_MOVED, stream=MEETINGS_STREAM,
              payload=MeetingEventData,
              description="A participant moved between the main room and a breakout room."),
    EventKind(event_type=MEETING_RECORDING_STARTED, stream=MEETINGS_STREAM,
              payload=MeetingEventData, description="A meeting's recording started."),
    EventKind(event_type=MEETING_RECORDING_STOPPED, stream=MEETINGS_STREAM,
              payload=MeetingEventData, description="A meeting's recording stopped."),
    EventKind(event_type=CREDITS_LOW, stream=CREDITS_STREAM, payload=CreditsBalance,
              description="The available credit balance fell below the threshold."),
    EventKind(event_type=CREDITS_EXHAUSTED, stream=CREDITS_STREAM, payload=CreditsBalance,
              description="The available credit balance reached zero."),
    EventKind(event_type=SUBSCRIPTION_CHANGED, stream=SUBSCRIPTIONS_STREAM,
              payload=SubscriptionChanged,
              description="The subscription started, changed plan, renewed or ended."),
    EventKind(event_type=ENDPOINT_DISABLED, stream=WEBHOOKS_STREAM, payload=EndpointDisabled,
              description="A webhook endpoint was disabled (410 Gone, or failing for days)."),
    EventKind(event_type=SMS_QUEUED, stream=SMS_STREAM, payload=SmsMessageChanged,
              description="Twilio accepted an SMS for sending."),
    EventKind(event_type=SMS_SENT, stream=SMS_STREAM, payload=SmsMessageChanged,
              description="An SMS left Twilio for the carrier."),
    EventKind(event_type=SMS_DELIVERED, stream=SMS_STREAM, payload=SmsMessageChanged,
              description="The carrier confirmed an SMS reached the handset."),
    EventKind(event_type=SMS_UNDELIVERED, stream=SMS_STREAM, payload=SmsMessageChanged,
              description="The carrier could not deliver an SMS."),
    EventKind(event_type=SMS_FAILED, stream=SMS_STREAM, payload=SmsMessageChanged,
              description="An SMS could not be sent (refused by Twilio, or retries ran out)."),
    EventKind(event_type=SMS_CANCELED, stream=SMS_STREAM, payload=SmsMessageChanged,
              description="A scheduled SMS was canceled before it was sent."),
    EventKind(event_type=SMS_OPTED_OUT, stream=SMS_STREAM, payload=SmsOptOutChanged,
              description="A recipient opted out of a sender's messages (STOP)."),
    EventKind(event_type=SMS_OPTED_IN, stream=SMS_STREAM, payload=SmsOptOutChanged,
              description="A recipient opted back in to a sender's messages (START)."),
)  # fmt: skip
EVENT_CATALOGUE: dict[str, EventKind] = {kind.event_type: kind for kind in _KINDS}
# The durable streams whose events belong to tenants: the integration service turns every event
# on them into webhooks and the event stream (the gateway's ``cache`` stream is internal).
TENANT_EVENT_STREAMS: tuple[str, ...] = tuple(dict.fromkeys(kind.stream for kind in _KINDS))
