"""The scope vocabulary: what a credential may do, one ``<area>:read`` / ``<area>:write`` pair per
area of the public API, plus the platform's own scopes that no tenant credential can hold. Every
route declares one (``kit.http.Authorized``); API keys are made only with scopes listed here; the
table in ``docs/api.md`` is this module written out (a test keeps the two equal).

``*`` (a signed-in user, a key made with it) grants every tenant scope, and ``<area>:*`` every
scope of one area. Platform scopes (``service:...``, ``operator:...``) are granted only by name:
services put them on their own calls to each other, and the operator's credential (made on the
host, ``v100 operator ...``) carries the operator's."""

from __future__ import annotations

__all__ = [
    "PLATFORM_SCOPES",
    "TENANT_SCOPES",
    "is_grantable",
    "is_known",
]

# area -> (what read lets a credential do, what write lets it do)
_AREAS: dict[str, tuple[str, str]] = {
    "tenants": ("see the tenant and its members", "add, change and remove members"),
    "api-keys": ("list API keys", "create and revoke API keys"),
    "credits": ("read the credit balance, history and audit log", "buy credits (checkout)"),
    "billing": (
        "read the published plans, the subscription and invoices",
        "subscribe, change or cancel the subscription; put a card on file",
    ),
    "usage": ("read metered usage", "(none: usage is reported by the platform's services)"),
    "videos": (
        "read uploads, projects, videos, highlights and clips",
        "upload, import, edit and delete them; make clips",
    ),
    "analyses": ("read video analyses", "start and delete analyses"),
    "media": ("read specs, media jobs, assemblies and captions", "run media jobs and assemblies"),
    "recordings": ("read recordings and their progress", "create and upload recordings"),
    "agents": ("read agents, knowledge bases and conversations", "create and change them"),
    "chat": ("(none)", "call the chat completions endpoint"),
    "rag": ("search and ask the tenant's documents", "add and delete documents"),
    "meetings": ("read meetings and participants", "create, join and manage meetings"),
    "realtime": ("watch live room state and presence", "publish presence and room state"),
    "streams": ("read streams and play them", "create and end streams"),
    "transcripts": ("read transcripts and live sessions", "transcribe files and run sessions"),
    "avatars": ("read avatars, voices and sessions", "create avatars and run sessions"),
    "scheduling": ("read calendars, events, availability and booking links", "change them"),
    "webhooks": ("read webhook endpoints and deliveries", "manage endpoints, replay deliveries"),
    "events": ("poll, subscribe to and replay the event stream", "acknowledge events"),
    "crm": ("read CRM connections and synced records", "connect and sync CRMs"),
    "sms": ("read sent messages", "send messages"),
    "publishing": ("read social accounts and publish jobs", "connect accounts and publish"),
}

TENANT_SCOPES: dict[str, str] = {
    f"{area}:{verb}": what
    for area, (read, write) in _AREAS.items()
    for verb, what in (("read", read), ("write", write))
}

PLATFORM_SCOPES: dict[str, str] = {
    "service:credits": "reserve, capture and release credit holds and deduct credits for work "
    "a service did (billing)",
    "service:usage": "report metered usage for a tenant (billing_engine)",
    "service:videos": "read a tenant's stored video's audio and attach generated caption tracks "
    "to it (video_processing)",
    "service:rag": "make and drop a tenant's knowledge base collections, add, read and delete "
    "their documents, search and ask them, re-embed them into another embedding model "
    "(rag_engine)",
    "service:transcripts": "read a tenant's finished transcript, and a stored video's "
    "transcript, asking for one when it has none (transcription)",
    "service:recordings": "make a recording of a tenant's meeting with its upload capability, "
    "and read where its recordings stand, with their download links (recording_processor)",
    "service:meetings": "read where a participant of a tenant's meeting stands (joined, in "
    "which room, removed; the meeting live or ended) before a socket joins its room (meeting)",
    "operator:billing": "publish plans with tiers, meters, rate cards, revenue-share "
    "agreements, and grant credits",
}


def is_known(scope: str) -> bool:
    """A scope a route may declare: a tenant or a platform scope."""
    return scope in TENANT_SCOPES or scope in PLATFORM_SCOPES


def is_grantable(scope: str) -> bool:
    """A scope an API key may carry: ``*``, ``<area>:*`` or one tenant scope."""
    if scope == "*" or scope in TENANT_SCOPES:
        return True
    area, _, verb = scope.partition(":")
    return verb == "*" and area in _AREAS
