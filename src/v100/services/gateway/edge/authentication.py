"""The edge's gate: an ASGI middleware that puts the caller's ``Principal`` at
``scope["state"]["principal"]`` for every route that is not public, and answers 401
problem+json (WebSockets: close 1008) to everyone else. Who the caller is, the identity room
decides (``identity.authn.Authenticator``), handed in by ``app.py`` as an ``Authenticates``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from starlette.types import ASGIApp, Receive, Scope, Send

from v100.contracts.meeting_tokens import MeetingToken, MeetingTokenInvalid, MeetingTokens
from v100.kit.auth import Principal
from v100.kit.errors import ProblemError
from v100.kit.http import problem_response

__all__ = ["PUBLIC_PATHS", "PUBLIC_PREFIXES", "Authenticates", "AuthenticationMiddleware"]

# Paths any caller may reach without a credential (the identity room adds its own: signup,
# login, refresh, logout).
PUBLIC_PATHS = frozenset(
    {
        "/health",
        "/ready",
        "/metrics",
        "/openapi.json",
        "/docs",
        "/docs/oauth2-redirect",
        # Stripe authenticates it by its signature; billing verifies it (ADR 0011).
        "/v1/checkout/webhooks/stripe",
        # The same for billing_engine's invoice events (docs/billing.md).
        "/v1/invoices/webhooks/stripe",
        # A CRM sends the user's browser back here; integration authenticates it by the
        # single-use OAuth state (docs/integration.md, "CRM").
        "/v1/crm/oauth/callback",
        # Twilio authenticates these by X-Twilio-Signature; integration verifies it
        # (docs/integration.md, "SMS").
        "/v1/sms/callbacks/status",
        "/v1/sms/callbacks/inbound",
    }
)
# Every path under these carries its own credential, a signed expiring token the service behind
# verifies: video_processing's direct uploads, playback and download links (docs/video.md), and
# the download links of recording_processor (docs/recordings.md) and media_processor
# (docs/media-processor.md), video_analysis's keyframe images (docs/video-analysis.md), and a
# meeting recording's tus URL, whose path holds its upload capability (docs/adr/0057).
PUBLIC_PREFIXES = (
    "/v1/uploads/direct/",
    "/v1/videos/playback/",
    "/v1/videos/files/",
    "/v1/recordings/files/",
    "/v1/recordings/uploads/",
    "/v1/media/files/",
    "/v1/analyses/files/",
    # stream_proxy's signed playback URLs (players fetch them with no credential; the service
    # checks the token in the path: docs/stream-proxy.md).
    "/hls/",
    # A signaling socket's credential is the meeting token in its first message (browsers
    # cannot set headers on a WebSocket); meeting_signaling verifies it (docs/meeting-signaling.md).
    "/v1/signaling/rooms/",
    # So is a realtime room socket's (docs/realtime.md).
    "/v1/realtime/rooms/",
    # The meeting page: static files; the participant's token stays in the URL's fragment,
    # which browsers never send (docs/meeting-page.md, ADR 0056).
    "/meet/",
)
# A participant's meeting token is the credential of its meeting's room routes,
# ``/v1/meetings/{id}/room...`` (docs/adr/0051).
MEETINGS_PREFIX = "/v1/meetings/"
_WS_POLICY_VIOLATION = 1008
_WS_TRY_AGAIN_LATER = 1013


class Authenticates(Protocol):
    """What the edge needs of the identity room's authenticator."""

    async def authenticate(self, scope: Scope) -> Principal:
        """The caller, or a ProblemError (401; 503 when the database does not answer)."""

    def principal_now(self, headers: list[tuple[bytes, bytes]]) -> Principal | None:
        """The caller when known without waiting; None for everything else (the full path
        then asks ``authenticate``)."""


class AuthenticationMiddleware:
    """Puts the caller's Principal in ``scope["state"]["principal"]`` (``request.state.principal``
    for routes, ``Authorized`` in endpoints) or answers for want of one."""

    def __init__(
        self,
        app: ASGIApp,
        authenticator: Authenticates,
        public_paths: Iterable[str] = PUBLIC_PATHS,
        public_prefixes: Iterable[str] = PUBLIC_PREFIXES,
        meeting_tokens: MeetingTokens | None = None,
    ) -> None:
        self.app = app
        self.authenticator = authenticator
        self.public_paths = frozenset(public_paths)
        self.public_prefixes = tuple(public_prefixes)
        self.meeting_tokens = meeting_tokens

    def _meeting_token(self, scope: Scope) -> tuple[str, MeetingToken] | None:
        """The bearer and its claims, when it is a valid meeting token and the path is its
        meeting's room."""
        if self.meeting_tokens is None:
            return None
        path: str = scope["path"]
        if not path.startswith(MEETINGS_PREFIX):
            return None
        meeting_id, _, rest = path[len(MEETINGS_PREFIX) :].partition("/")
        if rest != "room" and not rest.startswith("room/"):
            return None
        authorization = ""
        for name, value in scope.get("headers") or ():
            if name == b"authorization":
                authorization = value.decode("latin-1")
                break
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        try:
            checked = self.meeting_tokens.verify(token.strip())
        except MeetingTokenInvalid:
            return None
        return (token.strip(), checked) if checked.meeting_id == meeting_id else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] not in ("http", "websocket")
            or scope["path"] in self.public_paths
            or scope["path"].startswith(self.public_prefixes)
        ):
            await self.app(scope, receive, send)
            return
        try:
            principal = await self.authenticator.authenticate(scope)
        except ProblemError as error:
            meeting_token = self._meeting_token(scope) if error.status == 401 else None
            if meeting_token is not None:
                # A participant's meeting token on its own meeting's room routes: forwarded as
                # it is, and the meeting service checks it (docs/adr/0051). Its claims are for
                # the limits (its tenant's and its participant's buckets, docs/adr/0053); no
                # principal is made of them, so nothing mints an internal token for it.
                state = scope.setdefault("state", {})
                state["meeting_token"], state["meeting_caller"] = meeting_token
                await self.app(scope, receive, send)
                return
            if scope["type"] == "websocket":
                # Closing before accepting refuses the handshake (HTTP 403 on the wire).
                code = _WS_POLICY_VIOLATION if error.status == 401 else _WS_TRY_AGAIN_LATER
                await send({"type": "websocket.close", "code": code, "reason": error.title})
                return
            if error.status == 401:
                error.headers["WWW-Authenticate"] = "Bearer"
            await problem_response(error, scope.get("path"))(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)
