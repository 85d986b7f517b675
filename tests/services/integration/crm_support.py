"""Helpers for the CRM tests: the fakes of HubSpot and Salesforce served on 127.0.0.1, the
settings that point integration at them, connecting through the real OAuth flow (the test
plays the user's browser), and running the due syncs."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from v100.kit.testing.fakes.hubspot import FakeHubSpot
from v100.kit.testing.fakes.salesforce import FakeSalesforce

from .integration_support import Deployment

# No waiting in tests unless a test says so: a rate limit is waited out only when short.
CRM_FAST: dict[str, Any] = {
    "crm_sync_poll_seconds": 0.05,
    "crm_max_wait_seconds": 0.2,
    "crm_rate_limit_retries": 2,
    "stream_settle_seconds": 0.0,
}


def hubspot_settings(fake: FakeHubSpot, url: str, **overrides: Any) -> dict[str, Any]:
    return {
        **CRM_FAST,
        "hubspot_client_id": fake.client_id,
        "hubspot_client_secret": fake.client_secret,
        "hubspot_authorize_url": f"{url}/oauth/authorize",
        "hubspot_api_url": url,
        **overrides,
    }


def salesforce_settings(fake: FakeSalesforce, url: str, **overrides: Any) -> dict[str, Any]:
    return {
        **CRM_FAST,
        "salesforce_client_id": fake.client_id,
        "salesforce_client_secret": fake.client_secret,
        "salesforce_login_url": url,
        **overrides,
    }


async def authorize(service: Deployment, vendor: str, **body: Any) -> dict[str, Any]:
    answer = await service.http.post(
        "/v1/crm/authorizations", json={"vendor": vendor, **body}, headers=service.headers()
    )
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


async def follow_callback(service: Deployment, callback_url: str) -> Any:
    """The browser coming back from the vendor: no credential but the state in the URL."""
    parts = urlsplit(callback_url)
    assert parts.path == "/v1/crm/oauth/callback", callback_url
    return await service.http.get(f"{parts.path}?{parts.query}")


async def connect(
    service: Deployment, fake: FakeHubSpot | FakeSalesforce, vendor: str, **body: Any
) -> dict[str, Any]:
    started = await authorize(service, vendor, **body)
    answer = await follow_callback(service, fake.auth.approve(started["authorize_url"]))
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def sync_now(service: Deployment, connection_id: str) -> dict[str, Any]:
    """Ask for a sync and wait for it to end; the connection as it ended."""
    from .integration_support import eventually

    asked = await service.http.post(
        f"/v1/crm/connections/{connection_id}/sync", headers=service.headers()
    )
    assert asked.status_code == 202, asked.text

    async def ended() -> dict[str, Any] | None:
        connection = await service.get(f"/v1/crm/connections/{connection_id}")
        done = connection["sync_status"] not in ("queued", "running")
        return connection if done else None

    return await eventually(ended, within=20)


async def contacts(service: Deployment, connection_id: str, **params: Any) -> list[dict[str, Any]]:
    page = await service.get(f"/v1/crm/connections/{connection_id}/contacts", limit=200, **params)
    return list(page["items"])


async def decisions(service: Deployment, connection_id: str, **params: Any) -> list[dict[str, Any]]:
    page = await service.get(f"/v1/crm/connections/{connection_id}/sync-log", limit=200, **params)
    return list(page["items"])


async def pause(service: Deployment, connection_id: str, paused: bool = True) -> None:
    """Hold the sync (``sync_enabled: false``) while a test makes changes on both sides, so a
    sync woken by one change does not run before the other."""
    answer = await service.http.patch(
        f"/v1/crm/connections/{connection_id}", json={"sync_enabled": not paused},
        headers=service.headers(),
    )  # fmt: skip
    assert answer.status_code == 200, answer.text
