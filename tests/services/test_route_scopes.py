"""Every route of every one of the 19 services declares the scope it needs, in its handler's
signature (``kit.http.Authorized``), or is on the reviewed public list below: a route joins this
net by existing. Declared scopes come from the vocabulary (``contracts.scopes``), and that
vocabulary is the table in docs/api.md."""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import iter_route_contexts
from starlette.routing import BaseRoute, Mount

from v100.contracts.scopes import PLATFORM_SCOPES, TENANT_SCOPES, is_known
from v100.contracts.topology import SERVICES
from v100.kit.http import Authorized, ScopedRoute
from v100.kit.settings import PlatformSettings

SECRET = "route-scopes-test-secret-0123456789abcdef"
DOCS = Path(__file__).parents[2] / "docs" / "api.md"

_MEETING_TOKEN = "a participant's meeting token is the credential; meeting checks it (ADR 0051)"
# Reviewed: each of these authenticates its caller another way, or is for probes.
PUBLIC: dict[tuple[str, str], str] = {
    ("*", "/health"): "liveness probe",
    ("*", "/ready"): "readiness probe",
    ("*", "/metrics"): "Prometheus scrape (loopback / operator network)",
    ("*", "/openapi.json"): "the API description",
    ("*", "/docs"): "the API description",
    ("*", "/docs/oauth2-redirect"): "the API description",
    ("*", "/redoc"): "the API description",
    ("gateway", "/docs/assets/{name}"): "the API description's assets",
    ("gateway", "/v1/auth/signup"): "creates the credential",
    ("gateway", "/v1/auth/login"): "password is the credential",
    ("gateway", "/v1/auth/refresh"): "the refresh token in the body is the credential",
    ("gateway", "/v1/auth/logout"): "the refresh token in the body is the credential",
    ("billing", "/v1/checkout/webhooks/stripe"): "Stripe's signature is the credential",
    ("billing_engine", "/v1/invoices/webhooks/stripe"): "Stripe's signature is the credential",
    ("integration", "/v1/crm/oauth/callback"): (
        "the CRM sends the browser back: the single-use, expiring OAuth state is the credential"
    ),
    ("integration", "/v1/sms/callbacks/status"): "Twilio's X-Twilio-Signature is the credential",
    ("integration", "/v1/sms/callbacks/inbound"): "Twilio's X-Twilio-Signature is the credential",
    ("meeting", "/v1/meetings/{meeting_id}/room"): _MEETING_TOKEN,
    ("meeting", "/v1/meetings/{meeting_id}/room/join"): _MEETING_TOKEN,
    ("meeting", "/v1/meetings/{meeting_id}/room/leave"): _MEETING_TOKEN,
    ("meeting", "/v1/meetings/{meeting_id}/room/token"): _MEETING_TOKEN,
    ("meeting", "/meet/{meeting_id}"): (
        "the meeting page (static HTML); its credential travels in the URL fragment, never "
        "to the server (ADR 0056)"
    ),
    ("meeting", "/meet/assets/{name}"): "the meeting page's static scripts and styles",
    ("meeting", "/v1/meetings/{meeting_id}/room/waiting/{participant_id}/admit"): _MEETING_TOKEN,
    ("meeting", "/v1/meetings/{meeting_id}/room/waiting/{participant_id}/deny"): _MEETING_TOKEN,
    ("meeting", "/v1/meetings/{meeting_id}/room/waiting/admit-all"): _MEETING_TOKEN,
    ("meeting", "/v1/meetings/{meeting_id}/room/lock"): _MEETING_TOKEN,
    ("meeting", "/v1/meetings/{meeting_id}/room/unlock"): _MEETING_TOKEN,
    ("meeting", "/v1/meetings/{meeting_id}/room/end"): _MEETING_TOKEN,
    (
        "meeting",
        "/v1/meetings/{meeting_id}/room/participants/{participant_id}/mute",
    ): _MEETING_TOKEN,
    (
        "meeting",
        "/v1/meetings/{meeting_id}/room/participants/{participant_id}/remove",
    ): _MEETING_TOKEN,
    (
        "meeting",
        "/v1/meetings/{meeting_id}/room/participants/{participant_id}/move",
    ): _MEETING_TOKEN,
    ("meeting", "/v1/meetings/{meeting_id}/room/breakouts"): _MEETING_TOKEN,
    ("meeting", "/v1/meetings/{meeting_id}/room/breakouts/assign"): _MEETING_TOKEN,
    ("meeting", "/v1/meetings/{meeting_id}/room/breakouts/broadcast"): _MEETING_TOKEN,
    ("meeting", "/v1/meetings/{meeting_id}/room/breakouts/close"): _MEETING_TOKEN,
    ("meeting", "/v1/meetings/{meeting_id}/room/recordings"): _MEETING_TOKEN,
    ("meeting", "/v1/meetings/{meeting_id}/room/recordings/{recording_id}/stop"): _MEETING_TOKEN,
    ("meeting", "/v1/meetings/{meeting_id}/room/recordings/{recording_id}"): _MEETING_TOKEN,
    ("meeting_signaling", "/v1/signaling/rooms/{meeting_id}"): (
        "WebSocket: the meeting token in its first message (join) is the credential"
    ),
    ("realtime", "/v1/realtime/rooms/{meeting_id}"): (
        "WebSocket: the meeting token in its first message (join) is the credential"
    ),
}
# Mounted apps and path prefixes whose every URL carries a signed, expiring token of its own.
SIGNED_PREFIXES = (
    "/v1/uploads/direct/",
    "/v1/videos/playback/",
    "/v1/videos/files/",
    "/v1/recordings/files/",
    # A meeting recording's tus URL: the upload capability in its path (docs/adr/0057).
    "/v1/recordings/uploads/",
    "/v1/media/files/",
    "/v1/analyses/files/",
    # stream_proxy's playback URLs: the signed, expiring token in the path is the credential
    # (a player fetches playlists and segments with no API key; docs/stream-proxy.md).
    "/hls/",
)


def _apps(tmp_path: Path) -> Iterator[tuple[str, FastAPI]]:
    for info in SERVICES:
        module = importlib.import_module(f"v100.services.{info.name}.app")
        platform = PlatformSettings(var_dir=tmp_path / info.name, internal_token_secret=SECRET)
        yield info.name, module.create_app(module.Settings(platform=platform))


def _declared(dependant: Dependant) -> set[str]:
    found = set()
    for dependency in dependant.dependencies:
        if isinstance(dependency.call, Authorized):
            found.update(dependency.call.scopes)
        found |= _declared(dependency)
    return found


def _routes(routes: list[BaseRoute], prefix: str = "") -> Iterator[tuple[str, str, set[str]]]:
    """(methods, path, declared scopes) of every route, included routers and mounts walked
    through: a FastAPI route's ``Authorized`` dependencies (its router's included), a
    ``ScopedRoute``'s scope; nothing for any other route or mounted app."""
    for context in iter_route_contexts(routes):
        original = context.original_route
        if isinstance(original, Mount):
            yield from _routes(original.routes, prefix + original.path)
            continue
        dependant = getattr(context, "dependant", None)
        if isinstance(dependant, Dependant):
            scopes = _declared(dependant)
        elif isinstance(original, ScopedRoute) and original.scope is not None:
            scopes = {original.scope}
        else:
            scopes = set()
        methods = ",".join(sorted(context.methods or {"WS"}))
        yield methods, prefix + (context.path or ""), scopes


def _is_public(service: str, path: str) -> bool:
    return (service, path) in PUBLIC or ("*", path) in PUBLIC or path.startswith(SIGNED_PREFIXES)


def test_every_route_declares_a_known_scope_or_is_reviewed_public(tmp_path: Path) -> None:
    undeclared, unknown, seen = [], [], 0
    for service, app in _apps(tmp_path):
        for methods, path, scopes in _routes(app.router.routes):
            seen += 1
            if not scopes:
                if not _is_public(service, path):
                    undeclared.append(f"{service} {methods} {path}")
                continue
            unknown += [f"{service} {methods} {path}: {s}" for s in scopes if not is_known(s)]
    assert seen > 100
    assert not undeclared, "routes without a scope:\n" + "\n".join(undeclared)
    assert not unknown, "scopes outside contracts.scopes:\n" + "\n".join(unknown)


def test_the_public_list_names_only_routes_that_exist(tmp_path: Path) -> None:
    existing = {
        (service, path)
        for service, app in _apps(tmp_path)
        for _, path, _ in _routes(app.router.routes)
    }
    paths = {path for _, path in existing}
    stale = [
        key for key in PUBLIC if (key[0] == "*" and key[1] not in paths) or (
            key[0] != "*" and key not in existing
        )
    ]  # fmt: skip
    assert not stale, stale


def test_docs_api_lists_exactly_the_vocabulary() -> None:
    text = DOCS.read_text()
    documented = set(re.findall(r"^\| `([a-z-]+:[a-z*]+)` \|", text, flags=re.MULTILINE))
    assert documented == set(TENANT_SCOPES) | set(PLATFORM_SCOPES)


@pytest.mark.parametrize(
    ("held", "wanted", "granted"),
    [
        ({"*"}, "videos:write", True),
        ({"videos:*"}, "videos:write", True),
        ({"videos:read"}, "videos:write", False),
        ({"*"}, "service:credits", False),
        ({"service:*"}, "service:credits", False),
        ({"service:credits"}, "service:credits", True),
        ({"*"}, "operator:billing", False),
    ],
)
def test_wildcards_never_reach_the_platforms_own_scopes(
    held: set[str], wanted: str, granted: bool
) -> None:
    from v100.kit.auth import Principal

    assert Principal(tenant_id="t", scopes=frozenset(held)).has_scope(wanted) is granted
