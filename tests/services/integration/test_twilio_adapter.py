"""integration's Twilio adapter (the official SDK, async) against the local fake: what it sends,
how each kind of refusal is told apart (permanent, or worth a retry), and that the fake's
signatures are the ones the SDK's RequestValidator accepts, and nothing else is."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import quote

import pytest

from v100.kit.testing.fakes.twilio import FakeTwilio
from v100.kit.testing.servers import dead_url, serving
from v100.services.integration.sms.twilio_client import (
    TwilioMessaging,
    TwilioRefused,
    TwilioUnavailable,
)

CALLBACK = "https://v100.example.test/v1/sms/callbacks/status?message_id=m1"


@asynccontextmanager
async def adapter(fake: FakeTwilio, token: str | None = None) -> AsyncIterator[TwilioMessaging]:
    async with serving(fake.app, lifespan="off") as url:
        client = TwilioMessaging(fake.account_sid, token or fake.auth_token, api_base_url=url)
        try:
            yield client
        finally:
            await client.aclose()


async def test_a_message_is_created_with_the_sdk() -> None:
    fake = FakeTwilio(auto_callbacks=False)
    async with adapter(fake) as twilio:
        made = await twilio.send(
            to="+14155550100", body="Réunion à 10 h ✓", from_number="+14155550199",
            messaging_service_sid=None, status_callback=CALLBACK,
        )  # fmt: skip
        assert made.sid.startswith("SM")
        assert len(made.sid) == 34
        assert made.status == "queued"
        [call] = fake.sent()
        assert call.params == {
            "To": "+14155550100", "Body": "Réunion à 10 h ✓", "From": "+14155550199",
            "StatusCallback": CALLBACK,
        }  # fmt: skip
        through_service = await twilio.send(
            to="+14155550100", body="x", from_number=None,
            messaging_service_sid="MG" + "a" * 32, status_callback=CALLBACK,
        )  # fmt: skip
        assert through_service.status == "accepted"


@pytest.mark.parametrize(
    ("to", "code"), [("+15005550001", 21211), ("not-a-number", 21211), ("+14155550666", 21610)]
)
async def test_a_permanent_refusal_carries_twilios_code(to: str, code: int) -> None:
    fake = FakeTwilio(invalid_numbers={"+15005550001"}, unsubscribed={"+14155550666"})
    async with adapter(fake) as twilio:
        with pytest.raises(TwilioRefused) as refused:
            await twilio.send(to=to, body="x", from_number="+14155550199",
                              messaging_service_sid=None, status_callback=CALLBACK)  # fmt: skip
        assert (refused.value.status, refused.value.code) == (400, code)


async def test_wrong_credentials_are_refused_for_good() -> None:
    fake = FakeTwilio()
    async with adapter(fake, token="another-token") as twilio:
        with pytest.raises(TwilioRefused) as refused:
            await twilio.send(to="+14155550100", body="x", from_number="+14155550199",
                              messaging_service_sid=None, status_callback=CALLBACK)  # fmt: skip
        assert (refused.value.status, refused.value.code) == (401, 20003)
        assert fake.calls == []


@pytest.mark.parametrize(("status", "code"), [(429, 20429), (500, 20500), (503, 20500)])
async def test_throttling_and_outages_are_worth_a_retry(status: int, code: int) -> None:
    fake = FakeTwilio(auto_callbacks=False)
    fake.fail_next(1, status=status)
    async with adapter(fake) as twilio:
        with pytest.raises(TwilioUnavailable) as unavailable:
            await twilio.send(to="+14155550100", body="x", from_number="+14155550199",
                              messaging_service_sid=None, status_callback=CALLBACK)  # fmt: skip
        assert unavailable.value.code == code
        made = await twilio.send(to="+14155550100", body="x", from_number="+14155550199",
                                 messaging_service_sid=None, status_callback=CALLBACK)  # fmt: skip
        assert made.status == "queued"


async def test_no_answer_is_worth_a_retry() -> None:
    twilio = TwilioMessaging("AC" + "f" * 32, "token", api_base_url=dead_url(), timeout=2)
    try:
        with pytest.raises(TwilioUnavailable):
            await twilio.send(to="+14155550100", body="x", from_number="+14155550199",
                              messaging_service_sid=None, status_callback=CALLBACK)  # fmt: skip
    finally:
        await twilio.aclose()


async def test_the_fakes_signatures_are_what_the_sdk_validates() -> None:
    fake = FakeTwilio()
    twilio = TwilioMessaging(fake.account_sid, fake.auth_token)
    try:
        params = {"MessageSid": "SM" + "1" * 32, "MessageStatus": "delivered",
                  "Body": "Réunion ✓ & more", "To": "+14155550100"}  # fmt: skip
        url = f"{CALLBACK}&x={quote('a b')}"
        signature = fake.sign(url, params)
        assert twilio.signed(url, params, signature)
        assert not twilio.signed(url, params, None)
        assert not twilio.signed(url.replace("m1", "m2"), params, signature)
        assert not twilio.signed(url, {**params, "MessageStatus": "failed"}, signature)
        assert not twilio.signed(url, params, FakeTwilio(auth_token="other").sign(url, params))
    finally:
        await twilio.aclose()
