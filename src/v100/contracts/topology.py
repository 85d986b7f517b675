"""Where each service listens and which public prefixes the gateway sends it (DESIGN.md section 1).
The CLI uses it to start services; the gateway uses it to route."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SERVICES", "ServiceInfo", "service_info"]


@dataclass(frozen=True, slots=True)
class ServiceInfo:
    name: str
    port: int
    prefixes: tuple[str, ...] = ()
    websocket_prefixes: tuple[str, ...] = ()
    summary: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


SERVICES: tuple[ServiceInfo, ...] = (
    ServiceInfo(
        "gateway",
        4000,
        ("/v1/auth", "/v1/tenants", "/v1/api-keys"),
        summary="identity, tenancy, routing",
    ),
    ServiceInfo(
        "billing",
        8085,
        ("/v1/credits", "/v1/checkout"),
        summary="credit ledger, holds, Stripe checkout",
    ),
    ServiceInfo(
        "billing_engine",
        8086,
        ("/v1/plans", "/v1/subscriptions", "/v1/usage", "/v1/invoices", "/v1/revenue-shares"),
        summary="plans, subscriptions, meters, invoices",
    ),
    ServiceInfo(
        "video_processing",
        3002,
        ("/v1/uploads", "/v1/projects", "/v1/videos", "/v1/clips"),
        summary="uploads, projects, videos, clips",
    ),
    ServiceInfo(
        "video_analysis",
        3020,
        ("/v1/analyses", "/v1/video-analysis"),
        summary="scenes, faces, speech, scores",
    ),
    ServiceInfo(
        "media_processor",
        3013,
        ("/v1/media", "/v1/captions"),
        summary="assembly, captions, loudness, specs",
    ),
    ServiceInfo("recording_processor", 3012, ("/v1/recordings",), summary="meeting recordings"),
    ServiceInfo(
        "ai_orchestration",
        3001,
        ("/v1/agents", "/v1/knowledge-bases", "/v1/chat/completions"),
        summary="agents, knowledge bases, chat",
    ),
    ServiceInfo(
        "rag_engine",
        3011,
        ("/v1/documents", "/v1/search", "/v1/rag", "/v1/reembeddings"),
        summary="documents, embeddings, retrieval",
    ),
    ServiceInfo(
        "meeting", 3005, ("/v1/meetings", "/meet/"), summary="meetings, participants, the page"
    ),
    ServiceInfo("meeting_signaling", 3015, (), ("/v1/signaling",), summary="WebRTC signaling"),
    ServiceInfo("realtime", 3014, (), ("/v1/realtime",), summary="room state and presence"),
    ServiceInfo("stream_proxy", 3016, ("/v1/streams", "/hls/"), summary="HLS delivery"),
    ServiceInfo(
        "transcription",
        3003,
        ("/v1/transcripts", "/v1/transcription-sessions", "/v1/transcription"),
        summary="transcripts, live sessions",
    ),
    ServiceInfo(
        "avatar", 3004, ("/v1/avatars", "/v1/avatar-sessions"), summary="avatars and sessions"
    ),
    ServiceInfo(
        "scheduling",
        3006,
        ("/v1/calendars", "/v1/events", "/v1/availability", "/v1/booking-links"),
        summary="calendars and booking",
    ),
    ServiceInfo(
        "integration",
        3009,
        ("/v1/webhooks", "/v1/events-stream", "/v1/crm", "/v1/sms"),
        summary="webhooks, event stream, CRM, SMS",
    ),
    ServiceInfo(
        "social_publisher",
        3025,
        ("/v1/social-accounts", "/v1/publish-jobs", "/v1/scheduled-content"),
        summary="social accounts and publishing",
    ),
    # No public routes; it listens only for /health, /ready and /metrics (docs/adr/0002).
    ServiceInfo("publishing_worker", 3026, summary="scheduled publishing (background jobs)"),
)

_BY_NAME = {info.name: info for info in SERVICES}


def service_info(name: str) -> ServiceInfo:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown service {name!r}; known: {', '.join(_BY_NAME)}") from None
