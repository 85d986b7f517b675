"""Connecting a CRM: the authorize URL carries a single-use, expiring state bound to the tenant;
the public callback is authenticated by that state alone, and a wrong, reused or expired state,
or a refusal by the vendor, is a problem, never a connection."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import pytest

from v100.kit.testing.fakes.hubspot import FakeHubSpot
from v100.kit.testing.servers import serving

from .conftest import Deploy
from .crm_support import authorize, follow_callback, hubspot_settings


@pytest.fixture
async def hubspot() -> AsyncIterator[tuple[FakeHubSpot, str]]:
    fake = FakeHubSpot()
    async with serving(fake.app, lifespan="off") as url:
        yield fake, url


async def _connections(service: object, tenant: str | None = None) -> list[dict[str, object]]:
    page = await service.get("/v1/crm/connections", tenant=tenant)  # type: ignore[attr-defined]
    return list(page["items"])


async def test_the_authorize_url_and_a_good_callback(
    deploy: Deploy, hubspot: tuple[FakeHubSpot, str]
) -> None:
    fake, url = hubspot
    async with deploy(**hubspot_settings(fake, url)) as service:
        started = await authorize(service, "hubspot", activity_event_types=["recording.*"])
        parts = urlsplit(started["authorize_url"])
        query = parse_qs(parts.query)
        assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{url}/oauth/authorize"
        assert query["client_id"] == [fake.client_id]
        assert query["redirect_uri"] == [
            f"{service.settings.platform.public_url}/v1/crm/oauth/callback"
        ]
        assert "crm.objects.contacts.write" in query["scope"][0].split(" ")
        assert len(query["state"][0]) >= 40

        answer = await follow_callback(service, fake.auth.approve(started["authorize_url"]))
        assert answer.status_code == 200, answer.text
        made = answer.json()
        assert made["activity_event_types"] == ["recording.*"]
        [listed] = await _connections(service)
        assert listed["id"] == made["id"]
        # Bound to the tenant that asked: another tenant sees nothing of it.
        assert await _connections(service, tenant="another-tenant-0000") == []
        missing = await service.http.get(
            f"/v1/crm/connections/{made['id']}", headers=service.headers("another-tenant-0000")
        )
        assert missing.status_code == 404


async def test_a_wrong_reused_or_expired_state_is_refused(
    deploy: Deploy, hubspot: tuple[FakeHubSpot, str]
) -> None:
    fake, url = hubspot
    async with deploy(**hubspot_settings(fake, url, crm_state_ttl_seconds=60)) as service:
        started = await authorize(service, "hubspot")
        callback = fake.auth.approve(started["authorize_url"])

        forged = callback.replace("state=", "state=x")
        for wrong in (forged, callback.split("&state=")[0], "/v1/crm/oauth/callback?code=abc"):
            answer = await follow_callback(service, wrong if wrong.startswith("http") else
                                           f"http://x{wrong}")  # fmt: skip
            assert answer.status_code == 400, answer.text
            assert answer.json()["type"] == "/problems/oauth-state-invalid"
        assert fake.auth.grants == []  # no code was exchanged for a wrong state

        good = await follow_callback(service, callback)
        assert good.status_code == 200, good.text
        reused = await follow_callback(service, callback)
        assert reused.status_code == 400
        assert reused.json()["type"] == "/problems/oauth-state-invalid"
        assert "used already" in reused.json()["detail"]
        assert fake.auth.grants == ["authorization_code"]

        late = await authorize(service, "hubspot")
        service.clock.advance(61)
        expired = await follow_callback(service, fake.auth.approve(late["authorize_url"]))
        assert expired.status_code == 400
        assert "expired" in expired.json()["detail"]
        assert len(await _connections(service)) == 1


async def test_a_refusal_by_the_user_or_the_vendor_makes_no_connection(
    deploy: Deploy, hubspot: tuple[FakeHubSpot, str]
) -> None:
    fake, url = hubspot
    async with deploy(**hubspot_settings(fake, url)) as service:
        denied = await authorize(service, "hubspot")
        answer = await follow_callback(service, fake.auth.deny(denied["authorize_url"]))
        assert answer.status_code == 400
        assert answer.json()["type"] == "/problems/authorization-denied"

        # A code HubSpot does not know (BAD_AUTH_CODE): refused, and the state is spent.
        started = await authorize(service, "hubspot")
        callback = fake.auth.approve(started["authorize_url"])
        fake.auth.codes.clear()
        answer = await follow_callback(service, callback)
        assert answer.status_code == 400
        assert answer.json()["type"] == "/problems/authorization-denied"
        assert await _connections(service) == []


async def test_an_unconfigured_vendor_answers_501_and_the_api_needs_its_scopes(
    deploy: Deploy,
) -> None:
    async with deploy() as service:
        answer = await service.http.post(
            "/v1/crm/authorizations", json={"vendor": "salesforce"}, headers=service.headers()
        )
        assert answer.status_code == 501
        assert answer.json()["type"] == "/problems/not-configured"
        reader = service.headers(scopes=frozenset({"crm:read"}))
        forbidden = await service.http.post(
            "/v1/crm/authorizations", json={"vendor": "hubspot"}, headers=reader
        )
        assert forbidden.status_code == 403
        assert (await service.http.get("/v1/crm/connections", headers=reader)).status_code == 200
        # Every CRM route but the callback needs a credential.
        assert (await service.http.get("/v1/crm/connections")).status_code == 401
