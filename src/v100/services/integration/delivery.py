"""One delivery attempt: the message's body POSTed to the endpoint's URL with its custom headers
and the Standard Webhooks signature, under the same SSRF rules as URL imports, checked again now
(DNS may have changed since the URL was registered), redirects never followed. A 2xx within the
attempt timeout is a success; anything else, or no answer, a failure."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from v100.kit.errors import ProblemError
from v100.kit.fetch import FetchPolicy
from v100.kit.outbound import OutboundSender
from v100.services.integration.settings import IntegrationSettings
from v100.services.integration.signing import signed_headers

__all__ = ["AttemptResult", "receiver_policy", "receiver_sender", "secrets_in_force", "send"]

USER_AGENT = "v100-webhooks/1"
_LOOPBACK = ("127.0.0.0/8", "::1/128")


def receiver_policy(settings: IntegrationSettings) -> FetchPolicy:
    loopback = settings.allow_loopback_receivers or settings.receivers_loopback_only
    allowed = (*settings.receiver_allow_cidrs, *(_LOOPBACK if loopback else ()))
    if settings.receivers_loopback_only:
        allowed = _LOOPBACK
    timeout = settings.attempt_timeout_seconds
    return FetchPolicy(
        allow_cidrs=allowed,
        public=not settings.receivers_loopback_only,
        max_redirects=0,
        connect_timeout=min(5.0, timeout),
        read_timeout=timeout,
        total_timeout=timeout,
        user_agent=USER_AGENT,
    )


def receiver_sender(settings: IntegrationSettings) -> OutboundSender:
    """One pooled sender for every receiver: ``endpoint_concurrency`` connections to a host at
    most (so its attempts never wait for a connection), ``delivery_concurrency`` in all."""
    return OutboundSender(
        receiver_policy(settings),
        per_host=settings.endpoint_concurrency,
        total=settings.delivery_concurrency,
    )


@dataclass(frozen=True, slots=True)
class AttemptResult:
    succeeded: bool
    status_code: int | None
    duration_ms: int
    excerpt: str | None
    error: str | None


def secrets_in_force(
    secret: str, previous: str | None, previous_expires_at: datetime | None, now: datetime
) -> list[str]:
    if previous is not None and previous_expires_at is not None and now < previous_expires_at:
        return [secret, previous]
    return [secret]


async def send(
    sender: OutboundSender,
    *,
    url: str,
    message_id: str,
    payload: str,
    secrets: list[str],
    custom_headers: dict[str, str],
    now: datetime,
    excerpt_bytes: int,
) -> AttemptResult:
    body = payload.encode()
    headers = {
        **custom_headers,
        "content-type": "application/json",
        **signed_headers(secrets, message_id, int(now.timestamp()), body),
    }
    started = time.monotonic()
    try:
        answer = await sender.send(
            "POST", url, headers=headers, content=body, read_limit=excerpt_bytes
        )
    except ProblemError as exc:
        elapsed = int((time.monotonic() - started) * 1000)
        return AttemptResult(False, None, elapsed, None, f"{exc.slug}: {exc.detail}"[:500])
    elapsed = int((time.monotonic() - started) * 1000)
    excerpt = answer.body.decode("utf-8", "replace") if excerpt_bytes else None
    ok = 200 <= answer.status_code < 300
    error = None if ok else f"answered {answer.status_code}"
    return AttemptResult(ok, answer.status_code, elapsed, excerpt, error)
