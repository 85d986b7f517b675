"""CRM sync with Salesforce, against a local fake speaking Salesforce's REST API on both stacks:
SOQL on LastModifiedDate paged by nextRecordsUrl, Contacts both ways, INVALID_SESSION_ID
refreshed, REQUEST_LIMIT_EXCEEDED resumed from the cursor, a refused record logged, and
platform events logged as Tasks on the contact."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from v100.contracts.events import RECORDINGS_STREAM
from v100.kit.testing.fakes.salesforce import FakeSalesforce
from v100.kit.testing.servers import serving

from .conftest import Deploy
from .crm_support import connect, contacts, decisions, pause, salesforce_settings, sync_now
from .integration_support import eventually


@pytest.fixture
async def salesforce() -> AsyncIterator[tuple[FakeSalesforce, str]]:
    fake = FakeSalesforce(page_size=2)
    async with serving(fake.app, lifespan="off") as url:
        fake.instance_url = url
        yield fake, url


async def test_contacts_sync_both_ways_through_paged_soql(
    deploy: Deploy, salesforce: tuple[FakeSalesforce, str]
) -> None:
    fake, url = salesforce
    made = [fake.add_contact(Email=f"c{n}@example.com", LastName=f"L{n}") for n in range(5)]
    async with deploy(**salesforce_settings(fake, url)) as service:
        connection = await connect(service, fake, "salesforce")
        assert connection["account_id"] == fake.org_id
        ended = await sync_now(service, connection["id"])
        assert ended["sync_status"] == "idle", ended
        rows = await contacts(service, connection["id"])
        assert sorted(r["remote_id"] for r in rows) == sorted(made)
        # Five records at two a page: the first query and two nextRecordsUrl pages.
        assert sum(1 for _, path in fake.requests if "/query/" in path) >= 2

        first = next(r for r in rows if r["remote_id"] == made[0])
        await pause(service, connection["id"])
        created = await service.http.post(
            f"/v1/crm/connections/{connection['id']}/contacts",
            json={"email": "new@example.com", "first_name": "Nia", "last_name": "Okafor"},
            headers=service.creating(),
        )
        assert created.status_code == 201, created.text
        await service.http.patch(
            f"/v1/crm/contacts/{first['id']}",
            json={"phone": "+1 415 555 0100"},
            headers=service.headers(),
        )
        await pause(service, connection["id"], False)
        await sync_now(service, connection["id"])
        nia = fake.contact_by_email("new@example.com")
        assert nia is not None
        assert (nia["FirstName"], nia["LastName"]) == ("Nia", "Okafor")
        assert fake.contacts[made[0]]["Phone"] == "+1 415 555 0100"

        await asyncio.sleep(0.01)
        fake.change_contact(made[1], FirstName="Changed")
        await sync_now(service, connection["id"])
        second = next(r for r in await contacts(service, connection["id"])
                      if r["remote_id"] == made[1])  # fmt: skip
        assert second["first_name"] == "Changed"
        assert not await decisions(service, connection["id"], kind="conflict")


async def test_request_limit_exceeded_stops_and_resumes_from_the_cursor(
    deploy: Deploy, salesforce: tuple[FakeSalesforce, str]
) -> None:
    fake, url = salesforce
    async with deploy(**salesforce_settings(fake, url)) as service:
        connection = await connect(service, fake, "salesforce")
        await sync_now(service, connection["id"])
        made = []
        for n in range(5):
            made.append(fake.add_contact(Email=f"q{n}@example.com", LastName=f"Q{n}"))
            await asyncio.sleep(0.002)
        fake.auth.rate_limit_next(50, skip=1)
        ended = await sync_now(service, connection["id"])
        # No Retry-After from Salesforce: a doubling backoff, past crm_max_wait_seconds.
        assert ended["sync_status"] == "rate_limited", ended
        assert "TotalRequests Limit exceeded" in ended["last_error"]
        assert len(await contacts(service, connection["id"])) == 2

        fake.auth.rate_limited = 0
        service.clock.advance(5)

        async def resumed() -> bool:
            state = await service.get(f"/v1/crm/connections/{connection['id']}")
            return bool(state["sync_status"] == "idle")

        await eventually(resumed, within=10)
        pulled = await decisions(service, connection["id"], kind="pulled")
        assert sorted(d["remote_id"] for d in pulled) == sorted(made)


async def test_an_expired_session_is_refreshed_and_a_refused_record_is_logged(
    deploy: Deploy, salesforce: tuple[FakeSalesforce, str]
) -> None:
    fake, url = salesforce
    async with deploy(**salesforce_settings(fake, url)) as service:
        connection = await connect(service, fake, "salesforce")
        await sync_now(service, connection["id"])
        fake.auth.expire_access_tokens()
        await pause(service, connection["id"])
        nameless = await service.http.post(
            f"/v1/crm/connections/{connection['id']}/contacts",
            json={"email": "nameless@example.com"}, headers=service.creating(),
        )  # fmt: skip
        assert nameless.status_code == 201
        await pause(service, connection["id"], False)
        ended = await sync_now(service, connection["id"])
        assert ended["sync_status"] == "idle", ended
        # Refreshed with the refresh token Salesforce keeps (its answer sends none).
        assert fake.auth.grants == ["authorization_code", "refresh_token"]
        [failed] = await decisions(service, connection["id"], kind="failed")
        assert "REQUIRED_FIELD_MISSING" in failed["reason"]
        assert failed["contact_id"] == nameless.json()["id"]
        assert fake.contact_by_email("nameless@example.com") is None
        still = await service.get(f"/v1/crm/contacts/{nameless.json()['id']}")
        assert (still["pending_push"], still["push_refused"]) == (True, True)

        # Not sent (nor logged) again until it changes; sent once it has a last name.
        await sync_now(service, connection["id"])
        assert len(await decisions(service, connection["id"], kind="failed")) == 1
        await service.http.patch(
            f"/v1/crm/contacts/{nameless.json()['id']}", json={"last_name": "Named"},
            headers=service.headers(),
        )  # fmt: skip
        await sync_now(service, connection["id"])
        named = fake.contact_by_email("nameless@example.com")
        assert named is not None
        assert named["LastName"] == "Named"
        now = await service.get(f"/v1/crm/contacts/{nameless.json()['id']}")
        assert (now["pending_push"], now["push_refused"]) == (False, False)


async def test_recording_events_become_tasks_on_the_contact(
    deploy: Deploy, salesforce: tuple[FakeSalesforce, str]
) -> None:
    fake, url = salesforce
    who = fake.add_contact(Email="mo@example.com", LastName="Mo")
    async with deploy(**salesforce_settings(fake, url)) as service:
        connection = await connect(
            service, fake, "salesforce", activity_event_types=["recording.ready"]
        )
        await sync_now(service, connection["id"])
        await service.publish(RECORDINGS_STREAM, "recording.ready", {
            "id": "rec_1", "status": "ready", "stage": "done",
            "metadata": {"contact_email": "mo@example.com"},
        })  # fmt: skip

        async def recorded() -> bool:
            return bool((await service.get("/v1/webhooks/messages"))["items"])

        await eventually(recorded)
        await sync_now(service, connection["id"])
        [task] = fake.tasks.values()
        assert task["WhoId"] == who
        assert task["Status"] == "Completed"
        assert task["Subject"] == "Meeting recording ready: rec_1"
        [activity] = (await service.get(
            f"/v1/crm/connections/{connection['id']}/activities"))["items"]  # fmt: skip
        assert (activity["status"], activity["remote_id"]) == ("logged", task["Id"])
