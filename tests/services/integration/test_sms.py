"""SMS through the fake Twilio on both stacks: a message is written, handed to Twilio by the
outbox through the official SDK, and its signed status callbacks move it to delivered, with an
event at each step; bad signatures change nothing; a 429 is retried, an invalid number fails
at once; STOP and START from the recipient; a repeated Idempotency-Key sends once; callbacks out
of order never move a message back; scheduled sends wait for their time and can be canceled."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from sqlalchemy import update

from v100.kit.db import unit_of_work, utcnow
from v100.services.integration.sms.models import SmsMessage

from .conftest import Deploy
from .integration_support import eventually, new_tenant
from .sms_support import (
    INBOUND_URL,
    RECIPIENT,
    SENDER,
    STATUS_URL,
    add_sender,
    events_of,
    message,
    send,
    settled_at,
    sms_service,
)

# Scheduled sends and leases are times: run again with the clock moved (docs/testing.md).
pytestmark = pytest.mark.time_sensitive


async def test_a_message_is_sent_through_twilio_and_its_callbacks_deliver_it(
    deploy: Deploy,
) -> None:
    async with sms_service(deploy) as (service, twilio):
        sender = await add_sender(service, description="Reminders")
        assert sender["default"] is True
        assert sender["inbound_webhook_url"] == INBOUND_URL
        made = await send(service, reference="meeting:42:reminder")
        assert made["status"] == "pending"
        assert made["from_number"] == SENDER

        delivered = await settled_at(service, made["id"], "delivered")
        [call] = twilio.sent()
        assert call.path == f"/2010-04-01/Accounts/{twilio.account_sid}/Messages.json"
        assert call.params["To"] == RECIPIENT
        assert call.params["From"] == SENDER
        assert call.params["Body"] == "Your meeting starts in 10 minutes."
        callback = urlparse(call.params["StatusCallback"])
        assert f"{callback.scheme}://{callback.netloc}{callback.path}" == STATUS_URL
        assert parse_qs(callback.query) == {"message_id": [made["id"]]}
        assert delivered["twilio_sid"] in twilio.messages
        assert delivered["attempts"] == 1
        assert delivered["submitted_at"] is not None
        assert delivered["delivered_at"] is not None
        await twilio.settled()
        assert [c.params["MessageStatus"] for c in twilio.callbacks] == [
            "queued", "sent", "delivered",
        ]  # fmt: skip
        assert all(c.status_code == 204 for c in twilio.callbacks)

        for step in ("sms.queued", "sms.sent", "sms.delivered"):
            data = await eventually(lambda step=step: events_of(service, step))  # type: ignore[misc]
            assert [d["id"] for d in data] == [made["id"]]
            assert data[0]["reference"] == "meeting:42:reminder"
            assert data[0]["twilio_sid"] == delivered["twilio_sid"]

        listed = await service.get("/v1/sms/messages", status="delivered")
        assert [m["id"] for m in listed["items"]] == [made["id"]]
        assert (await service.get("/v1/sms/messages", status="failed"))["items"] == []


async def test_a_messaging_service_sender_sends_with_its_sid(deploy: Deploy) -> None:
    service_sid = "MG" + "a" * 32
    async with sms_service(deploy) as (service, twilio):
        await add_sender(service, messaging_service_sid=service_sid)
        made = await send(service)
        await settled_at(service, made["id"], "delivered")
        [call] = twilio.sent()
        assert call.params["MessagingServiceSid"] == service_sid
        assert "From" not in call.params


async def test_a_callback_without_a_valid_signature_is_refused_and_changes_nothing(
    deploy: Deploy,
) -> None:
    async with sms_service(deploy) as (service, twilio):
        await add_sender(service)
        twilio.auto_callbacks = False
        made = await send(service)
        queued = await settled_at(service, made["id"], "queued")
        sid = queued["twilio_sid"]
        params = {"MessageSid": sid, "MessageStatus": "delivered", "AccountSid": twilio.account_sid}
        url = f"{STATUS_URL}?message_id={made['id']}"
        forged = [
            {},  # no signature at all
            {"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"},
            # Twilio's signature, but for another message's URL
            {"X-Twilio-Signature": twilio.sign(f"{STATUS_URL}?message_id=other", params)},
            # signed with another account's token
            {"X-Twilio-Signature": type(twilio)(auth_token="another-token").sign(url, params)},
        ]
        for headers in forged:
            answer = await service.http.post(url, data=params, headers=headers)
            assert answer.status_code == 403, answer.text
            assert answer.json()["type"] == "/problems/invalid-signature"
        # A parameter changed after signing.
        signature = twilio.sign(url, {**params, "MessageStatus": "sent"})
        answer = await service.http.post(
            url, data=params, headers={"X-Twilio-Signature": signature}
        )
        assert answer.status_code == 403
        assert (await message(service, made["id"]))["status"] == "queued"

        answer = await twilio.post_status(sid, "delivered")
        assert answer.status_code == 204
        assert (await message(service, made["id"]))["status"] == "delivered"


async def test_a_429_is_retried_and_the_message_then_goes_out(deploy: Deploy) -> None:
    async with sms_service(deploy) as (service, twilio):
        await add_sender(service)
        twilio.fail_next(2, status=429)
        # Slow to answer: its callbacks come first, and they too clear the 429 left behind.
        twilio.create_delay = 0.3
        made = await send(service)

        async def retried() -> dict[str, object] | None:
            found = await message(service, made["id"])
            return found if found["error_code"] == 20429 else None

        assert "Too Many Requests" in str((await eventually(retried))["error_message"])
        delivered = await settled_at(service, made["id"], "delivered")
        assert delivered["attempts"] == 3
        assert delivered["error_code"] is None
        assert delivered["error_message"] is None
        assert len(twilio.sent()) == 1  # the two 429s were refused before a message was made
        assert len(twilio.messages) == 1


async def test_retries_running_out_fail_the_message(deploy: Deploy) -> None:
    async with sms_service(deploy) as (service, twilio):
        await add_sender(service)
        twilio.fail_next(3, status=503)
        made = await send(service)
        failed = await settled_at(service, made["id"], "failed")
        assert failed["attempts"] == 3
        assert failed["error_code"] == 20500
        assert "Gave up after 3 tries" in failed["error_message"]
        assert twilio.messages == {}
        [data] = await eventually(lambda: events_of(service, "sms.failed"))
        assert data["id"] == made["id"]


async def test_an_invalid_number_fails_at_once_with_twilios_code(deploy: Deploy) -> None:
    async with sms_service(deploy) as (service, twilio):
        await add_sender(service)
        twilio.invalid_numbers.add("+15005550001")
        made = await send(service, to="+15005550001")
        failed = await settled_at(service, made["id"], "failed")
        assert failed["error_code"] == 21211
        assert "Invalid 'To' Phone Number" in failed["error_message"]
        assert failed["attempts"] == 1
        assert len(twilio.sent()) == 1
        [data] = await eventually(lambda: events_of(service, "sms.failed"))
        assert data["error_code"] == 21211


async def test_stop_opts_the_recipient_out_and_start_back_in(deploy: Deploy) -> None:
    async with sms_service(deploy) as (service, twilio):
        sender = await add_sender(service)
        answer = await twilio.inbound(INBOUND_URL, from_=RECIPIENT, to=SENDER, body=" stop ")
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("application/xml")
        assert "<Response>" in answer.text
        [opt_out] = (await service.get("/v1/sms/opt-outs"))["items"]
        assert opt_out["phone_number"] == RECIPIENT
        assert opt_out["sender_id"] == sender["id"]
        assert opt_out["keyword"] == "STOP"
        [data] = await eventually(lambda: events_of(service, "sms.opted_out"))
        assert data["phone_number"] == RECIPIENT

        refused = await service.http.post(
            "/v1/sms/messages", json={"to": RECIPIENT, "body": "hello"},
            headers=service.creating(),
        )  # fmt: skip
        assert refused.status_code == 409, refused.text
        assert refused.json()["type"] == "/problems/recipient-opted-out"
        assert twilio.sent() == []
        # Others still get messages from that sender.
        other = await send(service, to="+14155550111")
        await settled_at(service, other["id"], "delivered")

        # A text that is not a keyword changes nothing; a forged STOP is refused.
        await twilio.inbound(INBOUND_URL, from_="+14155550111", to=SENDER, body="stop please")
        forged = await twilio.inbound(
            INBOUND_URL, from_="+14155550111", to=SENDER, body="STOP", signature="Zm9yZ2Vk"
        )
        assert forged.status_code == 403
        assert len((await service.get("/v1/sms/opt-outs"))["items"]) == 1

        await twilio.inbound(INBOUND_URL, from_=RECIPIENT, to=SENDER, body="START")
        assert (await service.get("/v1/sms/opt-outs"))["items"] == []
        await eventually(lambda: events_of(service, "sms.opted_in"))
        again = await send(service)
        await settled_at(service, again["id"], "delivered")


async def test_a_scheduled_message_refused_at_send_time_after_stop(deploy: Deploy) -> None:
    async with sms_service(deploy) as (service, twilio):
        await add_sender(service)
        made = await send(service, send_at=(utcnow() + timedelta(hours=1)).isoformat())
        assert made["status"] == "scheduled"
        await twilio.inbound(INBOUND_URL, from_=RECIPIENT, to=SENDER, body="UNSUBSCRIBE")
        service.clock.advance(3601)
        failed = await settled_at(service, made["id"], "failed")
        assert "opted out" in failed["error_message"]
        assert twilio.sent() == []


async def test_twilios_unsubscribed_refusal_is_remembered_as_an_opt_out(deploy: Deploy) -> None:
    async with sms_service(deploy) as (service, twilio):
        await add_sender(service)
        twilio.unsubscribed.add(RECIPIENT)
        made = await send(service)
        failed = await settled_at(service, made["id"], "failed")
        assert failed["error_code"] == 21610
        [opt_out] = (await service.get("/v1/sms/opt-outs"))["items"]
        assert opt_out["keyword"] == "21610"
        refused = await service.http.post(
            "/v1/sms/messages", json={"to": RECIPIENT, "body": "again"},
            headers=service.creating(),
        )  # fmt: skip
        assert refused.status_code == 409
        assert len(twilio.sent()) == 1


async def test_the_same_idempotency_key_sends_once(deploy: Deploy) -> None:
    async with sms_service(deploy) as (service, twilio):
        await add_sender(service)
        headers = service.creating()
        body = {"to": RECIPIENT, "body": "once"}
        first = await service.http.post("/v1/sms/messages", json=body, headers=headers)
        second = await service.http.post("/v1/sms/messages", json=body, headers=headers)
        assert first.status_code == second.status_code == 202
        assert first.json()["id"] == second.json()["id"]
        other = await service.http.post(
            "/v1/sms/messages", json={**body, "body": "twice"}, headers=headers
        )
        assert other.status_code == 409
        await settled_at(service, first.json()["id"], "delivered")
        assert len(twilio.sent()) == 1
        assert len((await service.get("/v1/sms/messages"))["items"]) == 1


async def test_callbacks_out_of_order_never_move_a_message_back(deploy: Deploy) -> None:
    async with sms_service(deploy) as (service, twilio):
        await add_sender(service)
        twilio.auto_callbacks = False
        made = await send(service)
        sid = (await settled_at(service, made["id"], "queued"))["twilio_sid"]
        assert (await twilio.post_status(sid, "delivered")).status_code == 204
        assert (await twilio.post_status(sid, "sent")).status_code == 204
        assert (await twilio.post_status(sid, "queued")).status_code == 204
        assert (await twilio.post_status(sid, "delivered")).status_code == 204  # a repeat
        found = await message(service, made["id"])
        assert found["status"] == "delivered"
        assert await eventually(lambda: events_of(service, "sms.delivered"))
        # Let the intake take in anything else there is, then count.
        await eventually(lambda: events_of(service, "sms.queued"))
        assert len(await events_of(service, "sms.delivered")) == 1
        assert await events_of(service, "sms.sent") == []


async def test_a_callback_before_the_answer_to_the_send_is_kept(deploy: Deploy) -> None:
    """Twilio may call back before its answer to the create reached the outbox: the callback
    URL names the message, so the status and the SID are kept, and the late answer does not
    move the message back to queued."""
    async with sms_service(deploy) as (service, twilio):
        await add_sender(service)
        twilio.auto_callbacks = False
        twilio.create_delay = 0.5
        made = await send(service)

        async def created() -> list[str] | None:
            return list(twilio.messages) or None

        [sid] = await eventually(created)  # Twilio has it; its answer is still on the way
        assert (await twilio.post_status(sid, "sent")).status_code == 204
        found = await message(service, made["id"])
        assert found["status"] == "sent"
        assert found["twilio_sid"] == sid
        assert found["submitted_at"] is None

        async def answered() -> dict[str, Any] | None:
            found = await message(service, made["id"])
            return found if found["submitted_at"] else None

        found = await eventually(answered)
        assert found["status"] == "sent"
        assert found["twilio_sid"] == sid
        assert len(twilio.sent()) == 1


async def test_undelivered_and_failed_outcomes_carry_the_carriers_code(deploy: Deploy) -> None:
    async with sms_service(deploy) as (service, twilio):
        await add_sender(service)
        twilio.outcomes["+14155550122"] = "undelivered"
        twilio.outcomes["+14155550133"] = "failed"
        undelivered = await send(service, to="+14155550122")
        failed = await send(service, to="+14155550133")
        found = await settled_at(service, undelivered["id"], "undelivered")
        assert found["error_code"] == 30003
        assert found["error_message"] == "Unreachable destination handset"
        assert found["failed_at"] is not None
        found = await settled_at(service, failed["id"], "failed")
        assert found["error_code"] == 30008
        [data] = await eventually(lambda: events_of(service, "sms.undelivered"))
        assert data["error_code"] == 30003


async def test_a_scheduled_reminder_waits_for_its_time_and_can_be_canceled(
    deploy: Deploy,
) -> None:
    async with sms_service(deploy) as (service, twilio):
        await add_sender(service)
        at = (utcnow() + timedelta(minutes=30)).isoformat()
        reminder = await send(service, send_at=at, reference="meeting:7:reminder")
        canceled = await send(service, send_at=at, to="+14155550144")
        assert reminder["status"] == canceled["status"] == "scheduled"

        path = f"/v1/sms/messages/{canceled['id']}/cancel"
        answer = await service.http.post(path, headers=service.headers())
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == "canceled"
        assert answer.json()["canceled_at"] is not None
        await eventually(lambda: events_of(service, "sms.canceled"))

        scheduled = await service.get("/v1/sms/messages", status="scheduled")
        assert [m["id"] for m in scheduled["items"]] == [reminder["id"]]
        assert twilio.sent() == []
        service.clock.advance(30 * 60 + 1)
        await settled_at(service, reminder["id"], "delivered")
        assert [c.params["To"] for c in twilio.sent()] == [RECIPIENT]
        assert (await message(service, canceled["id"]))["status"] == "canceled"
        # Handed to Twilio already: too late to cancel.
        late = await service.http.post(
            f"/v1/sms/messages/{reminder['id']}/cancel", headers=service.headers()
        )
        assert late.status_code == 409
        assert late.json()["type"] == "/problems/message-not-cancelable"


async def test_a_send_whose_process_died_is_sent_once_its_lease_ends(deploy: Deploy) -> None:
    async with sms_service(deploy, sms_send_lease_seconds=60) as (service, twilio):
        await add_sender(service)
        made = await send(service, send_at=(utcnow() + timedelta(days=1)).isoformat())
        # As a process killed mid-send leaves it: claimed, its lease running.
        sessions = service.app.state.runtime.sessions
        async with unit_of_work(sessions) as session:
            await session.execute(
                update(SmsMessage).where(SmsMessage.id == made["id"]).values(
                    status="submitting", lease_token="dead-process", attempts=1,
                    lease_until=service.clock.now() + timedelta(seconds=60),
                )
            )  # fmt: skip
        assert (await message(service, made["id"]))["status"] == "submitting"
        assert twilio.sent() == []
        service.clock.advance(61)
        found = await settled_at(service, made["id"], "delivered")
        assert found["attempts"] == 2
        assert len(twilio.sent()) == 1


async def test_senders_are_the_tenants_own_and_numbers_are_checked(deploy: Deploy) -> None:
    async with sms_service(deploy) as (service, _):
        first = await add_sender(service)
        second = await add_sender(service, phone_number="+442071838750", default=True)
        assert second["default"] is True
        assert (await service.get(f"/v1/sms/senders/{first['id']}"))["default"] is False

        for body in (
            {"phone_number": "4155550100"},
            {"phone_number": "+0155550100"},
            {"phone_number": "+1 415 555 0100"},
            {"phone_number": "+1234567890123456"},
            {"messaging_service_sid": "MG123"},
            {"phone_number": SENDER, "messaging_service_sid": "MG" + "a" * 32},
            {},
        ):
            answer = await service.http.post(
                "/v1/sms/senders", json=body, headers=service.creating()
            )
            assert answer.status_code == 422, (body, answer.text)
            assert answer.headers["content-type"].startswith("application/problem+json")
        bad_to = await service.http.post(
            "/v1/sms/messages", json={"to": "555-0100", "body": "x"}, headers=service.creating()
        )
        assert bad_to.status_code == 422
        assert "to" in str(bad_to.json()["errors"])

        stranger = new_tenant()
        taken = await service.http.post(
            "/v1/sms/senders", json={"phone_number": SENDER}, headers=service.creating(stranger)
        )
        assert taken.status_code == 409
        assert taken.json()["type"] == "/problems/sender-exists"
        for method in ("GET", "PATCH", "DELETE"):
            answer = await service.http.request(
                method, f"/v1/sms/senders/{first['id']}", headers=service.headers(stranger),
                json={"description": "x"} if method == "PATCH" else None,
            )  # fmt: skip
            assert answer.status_code == 404, (method, answer.text)
        no_sender = await service.http.post(
            "/v1/sms/messages", json={"to": RECIPIENT, "body": "x"},
            headers=service.creating(stranger),
        )  # fmt: skip
        assert no_sender.status_code == 409
        assert no_sender.json()["type"] == "/problems/no-sender"
        assert (await service.get("/v1/sms/senders", tenant=stranger))["items"] == []

        moved = await service.http.patch(
            f"/v1/sms/senders/{first['id']}", json={"default": True}, headers=service.headers()
        )
        assert moved.json()["default"] is True
        for body in ({"description": None}, {"default": False}, {"phone_number": "+14155550111"}):
            refused = await service.http.patch(
                f"/v1/sms/senders/{first['id']}", json=body, headers=service.headers()
            )
            assert refused.status_code == 422, (body, refused.text)
        gone = await service.http.delete(
            f"/v1/sms/senders/{first['id']}", headers=service.headers()
        )
        assert gone.status_code == 204
        assert (await service.get(f"/v1/sms/senders/{second['id']}"))["default"] is True
        made = await send(service)
        assert made["from_number"] == "+442071838750"


async def test_another_tenants_message_is_not_found(deploy: Deploy) -> None:
    async with sms_service(deploy) as (service, twilio):
        await add_sender(service)
        made = await send(service, send_at=(utcnow() + timedelta(days=1)).isoformat())
        stranger = new_tenant()
        for method, path in (("GET", ""), ("POST", "/cancel")):
            answer = await service.http.request(
                method, f"/v1/sms/messages/{made['id']}{path}", headers=service.headers(stranger)
            )
            assert answer.status_code == 404, answer.text
        assert (await service.get("/v1/sms/messages", tenant=stranger))["items"] == []
        assert (await message(service, made["id"]))["status"] == "scheduled"
        # Opt-outs are listed to the tenant whose sender was texted, and to no other.
        await twilio.inbound(INBOUND_URL, from_=RECIPIENT, to=SENDER, body="STOP")
        assert len((await service.get("/v1/sms/opt-outs"))["items"]) == 1
        assert (await service.get("/v1/sms/opt-outs", tenant=stranger))["items"] == []


async def test_without_a_twilio_account_sending_answers_not_configured(deploy: Deploy) -> None:
    async with deploy() as service:
        answer = await service.http.post(
            "/v1/sms/messages", json={"to": RECIPIENT, "body": "x"}, headers=service.creating()
        )
        assert answer.status_code == 501
        assert answer.json()["type"] == "/problems/not-configured"
        callback = await service.http.post(
            f"{STATUS_URL}?message_id=x", data={"MessageStatus": "sent"}
        )
        assert callback.status_code == 501
        # Senders can be registered before the account is configured.
        await add_sender(service)


async def test_scopes_are_checked(deploy: Deploy) -> None:
    async with sms_service(deploy) as (service, _):
        reader = service.headers(scopes=frozenset({"sms:read"}))
        answer = await service.http.post(
            "/v1/sms/messages", json={"to": RECIPIENT, "body": "x"},
            headers={**reader, "Idempotency-Key": "k1"},
        )  # fmt: skip
        assert answer.status_code == 403
        assert (await service.http.get("/v1/sms/messages", headers=reader)).status_code == 200
        writer_only = service.headers(scopes=frozenset({"webhooks:read"}))
        assert (await service.http.get("/v1/sms/messages", headers=writer_only)).status_code == 403
