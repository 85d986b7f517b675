"""Helpers for integration's SMS tests: the service with a Twilio account pointed at the local
fake (served on 127.0.0.1; its callbacks reach the app through the app's own ASGI client), and
short ways to register a sender, send, and read a message or the events it published."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from v100.kit.testing.fakes.twilio import FakeTwilio
from v100.kit.testing.servers import serving

from .conftest import Deploy
from .integration_support import Deployment, eventually

# The public URL Twilio is given for callbacks (the gateway's, in production).
PUBLIC_URL = "https://v100.example.test"
STATUS_URL = f"{PUBLIC_URL}/v1/sms/callbacks/status"
INBOUND_URL = f"{PUBLIC_URL}/v1/sms/callbacks/inbound"
SENDER = "+14155550199"
RECIPIENT = "+14155550100"


@asynccontextmanager
async def sms_service(
    deploy: Deploy, **overrides: Any
) -> AsyncIterator[tuple[Deployment, FakeTwilio]]:
    fake = FakeTwilio()
    async with serving(fake.app, lifespan="off") as url:
        settings = {
            "twilio_account_sid": fake.account_sid,
            "twilio_auth_token": fake.auth_token,
            "twilio_api_base_url": url,
            "sms_public_url": PUBLIC_URL,
            "sms_poll_seconds": 0.05,
            "sms_retry_schedule_seconds": (0, 0.05, 0.05),
            **overrides,
        }
        async with deploy(**settings) as service:
            fake.callback_client = service.http
            yield service, fake
            await fake.settled()


async def add_sender(service: Deployment, tenant: str | None = None, **body: Any) -> dict[str, Any]:
    if "phone_number" not in body and "messaging_service_sid" not in body:
        body["phone_number"] = SENDER
    answer = await service.http.post("/v1/sms/senders", json=body, headers=service.creating(tenant))
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


async def send(service: Deployment, tenant: str | None = None, **body: Any) -> dict[str, Any]:
    body = {"to": RECIPIENT, "body": "Your meeting starts in 10 minutes.", **body}
    answer = await service.http.post(
        "/v1/sms/messages", json=body, headers=service.creating(tenant)
    )
    assert answer.status_code == 202, answer.text
    return dict(answer.json())


async def message(service: Deployment, message_id: str) -> dict[str, Any]:
    return dict(await service.get(f"/v1/sms/messages/{message_id}"))


async def settled_at(service: Deployment, message_id: str, status: str) -> dict[str, Any]:
    """The message once its status is ``status`` (polling)."""

    async def check() -> dict[str, Any] | None:
        found = await message(service, message_id)
        return found if found["status"] == status else None

    return await eventually(check)


async def events_of(service: Deployment, event_type: str) -> list[dict[str, Any]]:
    """The ``data`` of every ``event_type`` event the tenant received (as integration's own
    intake recorded them from the bus: what webhooks and the event stream carry)."""
    page = await service.get("/v1/webhooks/messages", event_type=event_type, limit=200)
    return [m["payload"]["data"] for m in page["items"]]
