"""CRM sync with HubSpot, against a local fake speaking HubSpot's wire format, on both stacks:
a contact synced both ways, conflicts decided by the later change and logged, tokens sealed at
rest and refreshed ahead of expiry and on a 401, a rate limit waited out or resumed from the
cursor with nothing lost, and platform events logged as meetings on the contact."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from v100.contracts.events import VIDEO_STREAM
from v100.kit.db import unit_of_work
from v100.kit.testing.fakes.hubspot import FakeHubSpot
from v100.kit.testing.servers import serving
from v100.services.integration.crm.models import CrmConnection

from .conftest import Deploy
from .crm_support import connect, contacts, decisions, hubspot_settings, pause, sync_now
from .integration_support import eventually


@pytest.fixture
async def hubspot() -> AsyncIterator[tuple[FakeHubSpot, str]]:
    fake = FakeHubSpot()
    async with serving(fake.app, lifespan="off") as url:
        yield fake, url


def _by_email(rows: list[dict[str, object]], email: str) -> dict[str, object]:
    found = [row for row in rows if row["email"] == email]
    assert len(found) == 1, rows
    return found[0]


async def test_a_contact_syncs_both_ways(deploy: Deploy, hubspot: tuple[FakeHubSpot, str]) -> None:
    fake, url = hubspot
    ada = fake.add_contact(email="ada@example.com", firstname="Ada", lastname="Lovelace")
    async with deploy(**hubspot_settings(fake, url)) as service:
        connection = await connect(service, fake, "hubspot")
        assert connection["vendor"] == "hubspot"
        assert connection["account_id"] == "4242"
        assert "access_token" not in connection
        assert "refresh_token" not in connection
        ended = await sync_now(service, connection["id"])
        assert ended["sync_status"] == "idle", ended

        # HubSpot -> V100
        pulled = _by_email(await contacts(service, connection["id"]), "ada@example.com")
        assert (pulled["remote_id"], pulled["first_name"]) == (ada, "Ada")

        # V100 -> HubSpot: a new contact, and a change to the pulled one.
        await pause(service, connection["id"])
        created = await service.http.post(
            f"/v1/crm/connections/{connection['id']}/contacts",
            json={"email": "Grace@Example.com", "first_name": "Grace", "last_name": "Hopper"},
            headers=service.creating(),
        )
        assert created.status_code == 201, created.text
        assert created.json()["pending_push"] is True
        changed = await service.http.patch(
            f"/v1/crm/contacts/{pulled['id']}", json={"phone": "+44 20 7946 0000"},
            headers=service.headers(),
        )  # fmt: skip
        assert changed.status_code == 200, changed.text
        await pause(service, connection["id"], False)
        await sync_now(service, connection["id"])
        grace = fake.contact_by_email("grace@example.com")
        assert grace is not None
        assert (grace["firstname"], grace["lastname"]) == ("Grace", "Hopper")
        assert fake.contacts[ada]["properties"]["phone"] == "+44 20 7946 0000"
        mine = await service.get(f"/v1/crm/contacts/{created.json()['id']}")
        assert mine["pending_push"] is False
        assert mine["remote_id"] == grace["hs_object_id"]

        # HubSpot -> V100 again: an edit in HubSpot, pulled by the change cursor.
        fake.change_contact(ada, firstname="Augusta Ada")
        await sync_now(service, connection["id"])
        again = await service.get(f"/v1/crm/contacts/{pulled['id']}")
        assert again["first_name"] == "Augusta Ada"
        assert again["phone"] == "+44 20 7946 0000"

        log = await decisions(service, connection["id"])
        kinds = [(d["kind"], d["reason"]) for d in reversed(log)]
        assert kinds == [
            ("pulled", "new in the CRM"),
            ("pushed", "updated in the CRM"),
            ("pushed", "created in the CRM"),
            ("pulled", "changed in the CRM"),
        ], kinds
        # Our own pushes, read back by the next pull, are not taken for HubSpot's changes.
        assert not [d for d in log if d["kind"] == "conflict"]


async def test_a_new_contact_whose_email_hubspot_has_links_that_record_and_updates_it(
    deploy: Deploy, hubspot: tuple[FakeHubSpot, str]
) -> None:
    fake, url = hubspot
    async with deploy(**hubspot_settings(fake, url)) as service:
        connection = await connect(service, fake, "hubspot")
        await sync_now(service, connection["id"])
        await pause(service, connection["id"])
        # Made in HubSpot a moment ago: its search does not find it yet, so the pull cannot
        # link it, and creating it in HubSpot answers 409 CONFLICT with the existing id.
        existing = fake.add_contact(
            email="dup@example.com", firstname="Old", lastname="Name", indexed=False
        )
        created = await service.http.post(
            f"/v1/crm/connections/{connection['id']}/contacts",
            json={"email": "Dup@Example.com", "first_name": "New", "last_name": "Name",
                  "phone": "+1 202 555 0147"},
            headers=service.creating(),
        )  # fmt: skip
        assert created.status_code == 201, created.text
        await pause(service, connection["id"], False)
        ended = await sync_now(service, connection["id"])
        assert ended["sync_status"] == "idle", ended

        # The create was refused, and the existing record updated instead of a second one made.
        calls = [call for call in fake.requests if "/contacts" in call[1]]
        assert ("POST", "/crm/v3/objects/contacts") in calls
        assert ("PATCH", f"/crm/v3/objects/contacts/{existing}") in calls
        assert calls.index(("POST", "/crm/v3/objects/contacts")) < calls.index(
            ("PATCH", f"/crm/v3/objects/contacts/{existing}")
        )
        assert len(fake.contacts) == 1
        record = fake.contacts[existing]["properties"]
        assert (record["firstname"], record["phone"]) == ("New", "+1 202 555 0147")
        mine = await service.get(f"/v1/crm/contacts/{created.json()['id']}")
        assert (mine["remote_id"], mine["pending_push"]) == (existing, False)
        [pushed] = await decisions(service, connection["id"], kind="pushed")
        assert pushed["remote_id"] == existing
        assert pushed["reason"] == "linked to the CRM's contact with this e-mail, updated"

        # Once HubSpot's search finds it, the pull reads our own update back: not a change.
        fake.index()
        await sync_now(service, connection["id"])
        rows = await contacts(service, connection["id"])
        assert [(r["remote_id"], r["first_name"]) for r in rows] == [(existing, "New")]
        assert not await decisions(service, connection["id"], kind="pulled")
        assert not await decisions(service, connection["id"], kind="conflict")


async def test_both_sides_changed_the_later_change_wins_and_is_logged(
    deploy: Deploy, hubspot: tuple[FakeHubSpot, str]
) -> None:
    fake, url = hubspot
    remote = fake.add_contact(email="lin@example.com", firstname="Lin", lastname="Wu")
    async with deploy(**hubspot_settings(fake, url)) as service:
        connection = await connect(service, fake, "hubspot")
        await sync_now(service, connection["id"])
        contact = _by_email(await contacts(service, connection["id"]), "lin@example.com")

        # V100 first, HubSpot later: HubSpot's value wins on both sides.
        await pause(service, connection["id"])
        await service.http.patch(
            f"/v1/crm/contacts/{contact['id']}",
            json={"first_name": "Local"},
            headers=service.headers(),
        )
        await asyncio.sleep(0.01)
        fake.change_contact(remote, firstname="Remote")
        await pause(service, connection["id"], False)
        await sync_now(service, connection["id"])
        assert (await service.get(f"/v1/crm/contacts/{contact['id']}"))["first_name"] == "Remote"
        assert fake.contacts[remote]["properties"]["firstname"] == "Remote"
        [conflict] = await decisions(service, connection["id"], kind="conflict")
        assert conflict["winner"] == "remote"
        assert conflict["contact_id"] == contact["id"]
        assert conflict["fields"] == {"first_name": {"local": "Local", "remote": "Remote"}}
        assert conflict["local_modified_at"] < conflict["remote_modified_at"]

        # HubSpot first, V100 later: V100's value wins on both sides.
        await pause(service, connection["id"])
        fake.change_contact(remote, lastname="Remote-Wu")
        await asyncio.sleep(0.01)
        await service.http.patch(
            f"/v1/crm/contacts/{contact['id']}",
            json={"last_name": "Local-Wu"},
            headers=service.headers(),
        )
        await pause(service, connection["id"], False)
        await sync_now(service, connection["id"])
        assert fake.contacts[remote]["properties"]["lastname"] == "Local-Wu"
        assert (await service.get(f"/v1/crm/contacts/{contact['id']}"))["last_name"] == "Local-Wu"
        latest = (await decisions(service, connection["id"], kind="conflict"))[0]
        assert latest["winner"] == "local"
        assert latest["local_modified_at"] > latest["remote_modified_at"]


async def test_tokens_are_sealed_and_refreshed_ahead_of_expiry_and_on_401(
    deploy: Deploy, hubspot: tuple[FakeHubSpot, str]
) -> None:
    fake, url = hubspot
    async with deploy(**hubspot_settings(fake, url, crm_refresh_ahead_seconds=300)) as service:
        connection = await connect(service, fake, "hubspot")
        await sync_now(service, connection["id"])
        assert fake.auth.grants == ["authorization_code"]

        sessions = service.app.state.runtime.sessions
        async with unit_of_work(sessions) as session:
            row = (await session.execute(select(CrmConnection))).scalar_one()
            stored = (row.access_token, row.refresh_token or "")
        for token in [*fake.auth.access_tokens, *fake.auth.refresh_tokens]:
            assert token not in stored[0]
            assert token not in stored[1]
        assert stored[0].startswith("v1.")
        assert stored[1].startswith("v1.")

        # 1,800 s tokens: with 250 s left (under the 300 s ahead), the next sync refreshes first.
        service.clock.advance(1800 - 250)
        await sync_now(service, connection["id"])
        assert fake.auth.grants == ["authorization_code", "refresh_token"]
        # Refused by HubSpot before its time (revoked, clock skew): a 401, refreshed, retried.
        fake.auth.expire_access_tokens()
        ended = await sync_now(service, connection["id"])
        assert ended["sync_status"] == "idle", ended
        assert fake.auth.grants == ["authorization_code", "refresh_token", "refresh_token"]

        # The refresh token revoked in HubSpot: the connection must be authorized again.
        fake.auth.revoke_refresh_tokens()
        fake.auth.expire_access_tokens()
        ended = await sync_now(service, connection["id"])
        assert (ended["status"], ended["sync_status"]) == ("reauthorize", "failed"), ended
        refused = await service.http.post(
            f"/v1/crm/connections/{connection['id']}/sync", headers=service.headers()
        )
        assert refused.status_code == 409
        assert refused.json()["type"] == "/problems/reauthorization-required"
        # Authorizing again renews the same connection (same hub).
        renewed = await connect(service, fake, "hubspot")
        assert renewed["id"] == connection["id"]
        assert renewed["status"] == "active"


async def test_a_rate_limit_is_waited_out_when_short(
    deploy: Deploy, hubspot: tuple[FakeHubSpot, str]
) -> None:
    fake, url = hubspot
    fake.retry_after = 0.05
    async with deploy(**hubspot_settings(fake, url)) as service:
        connection = await connect(service, fake, "hubspot")
        await sync_now(service, connection["id"])
        for n in range(3):
            fake.add_contact(email=f"p{n}@example.com", firstname=f"P{n}")
        fake.auth.rate_limit_next(2)
        calls = len(fake.requests)
        ended = await sync_now(service, connection["id"])
        assert ended["sync_status"] == "idle", ended
        assert len(fake.requests) - calls >= 3  # two answered 429, then the search
        assert fake.auth.rate_limited == 0
        assert len(await contacts(service, connection["id"])) == 3


async def test_a_rate_limited_sync_stops_and_resumes_from_its_cursor_losing_nothing(
    deploy: Deploy, hubspot: tuple[FakeHubSpot, str]
) -> None:
    fake, url = hubspot
    fake.retry_after = 30  # longer than the sync waits (crm_max_wait_seconds 0.2)
    async with deploy(**hubspot_settings(fake, url, crm_page_size=2)) as service:
        connection = await connect(service, fake, "hubspot")
        await sync_now(service, connection["id"])
        made = []
        for n in range(7):
            made.append(fake.add_contact(email=f"r{n}@example.com", firstname=f"R{n}"))
            await asyncio.sleep(0.002)  # distinct last-modified times
        fake.auth.rate_limit_next(50, skip=1)  # the first page passes, then 429s
        ended = await sync_now(service, connection["id"])
        assert ended["sync_status"] == "rate_limited", ended
        assert "slow down" in (ended["last_error"] or "")
        assert len(await contacts(service, connection["id"])) == 2
        cursor = ended["contacts_cursor"]
        assert cursor is not None
        [stop] = await decisions(service, connection["id"], kind="rate_limited")
        assert stop["fields"] == {"retry_after": 30.0}

        # Not before HubSpot's wait is over; then from the cursor, to the end.
        fake.auth.rate_limited = 0
        await asyncio.sleep(0.3)
        assert (await service.get(f"/v1/crm/connections/{connection['id']}"))["sync_status"] == (
            "rate_limited"
        )
        service.clock.advance(31)

        async def resumed() -> bool:
            state = await service.get(f"/v1/crm/connections/{connection['id']}")
            return bool(state["sync_status"] == "idle")

        await eventually(resumed, within=10)
        rows = await contacts(service, connection["id"])
        assert sorted(r["remote_id"] for r in rows) == sorted(made)
        pulled = await decisions(service, connection["id"], kind="pulled")
        assert sorted(d["remote_id"] for d in pulled) == sorted(made)  # each once


async def test_platform_events_become_meetings_on_the_contact(
    deploy: Deploy, hubspot: tuple[FakeHubSpot, str]
) -> None:
    fake, url = hubspot
    remote = fake.add_contact(email="kay@example.com", firstname="Kay")
    async with deploy(**hubspot_settings(fake, url)) as service:
        connection = await connect(service, fake, "hubspot", activity_event_types=["video.ready"])
        await sync_now(service, connection["id"])
        await service.publish(
            VIDEO_STREAM,
            "video.ready",
            {"id": "vid_1", "status": "ready", "passthrough": "Kay@example.com"},
        )
        await service.publish(
            VIDEO_STREAM,
            "video.errored",
            {"id": "vid_2", "status": "errored", "passthrough": "kay@example.com"},
        )
        await service.publish(
            VIDEO_STREAM,
            "video.ready",
            {"id": "vid_3", "status": "ready", "passthrough": "nobody@example.com"},
        )

        async def recorded() -> bool:
            page = await service.get("/v1/webhooks/messages")
            return len(page["items"]) == 3

        await eventually(recorded)
        await sync_now(service, connection["id"])
        [meeting] = fake.meetings.values()
        assert fake.meeting_contacts[meeting["id"]] == [remote]
        assert meeting["properties"]["hs_meeting_title"] == "Video ready: vid_1"
        assert meeting["properties"]["hs_meeting_outcome"] == "COMPLETED"
        # HubSpot's datetime format: UTC with milliseconds.
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z",
                            meeting["properties"]["hs_timestamp"])  # fmt: skip
        page = await service.get(f"/v1/crm/connections/{connection['id']}/activities")
        statuses = sorted((a["status"], a["contact_email"]) for a in page["items"])
        assert statuses == [("logged", "kay@example.com"), ("skipped", "nobody@example.com")]
        # Another sync logs nothing twice.
        await sync_now(service, connection["id"])
        assert len(fake.meetings) == 1
