"""The ``iceServers`` of a join answer: STUN urls as configured, and TURN urls with short-lived
credentials of the TURN REST scheme (coturn's ``use-auth-secret``): the username is
``<expiry unix time>:<participant id>`` and the credential is base64(HMAC-SHA1(secret,
username)), so the TURN server checks them with the shared secret alone."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

from v100.services.meeting_signaling.settings import MeetingSignalingSettings

__all__ = ["ice_servers", "turn_credential"]


def turn_credential(secret: str, username: str) -> str:
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def ice_servers(
    settings: MeetingSignalingSettings, participant_id: str, now: float
) -> list[dict[str, Any]]:
    """RTCIceServer dictionaries for one participant, valid ``turn_ttl_seconds`` from ``now``."""
    servers: list[dict[str, Any]] = []
    if settings.stun_urls:
        servers.append({"urls": list(settings.stun_urls)})
    if settings.turn_urls and settings.turn_secret is not None:
        username = f"{int(now) + settings.turn_ttl_seconds}:{participant_id}"
        credential = turn_credential(settings.turn_secret.get_secret_value(), username)
        servers.append(
            {"urls": list(settings.turn_urls), "username": username, "credential": credential}
        )
    return servers
