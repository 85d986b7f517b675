"""SMS through the real gateway: a tenant signs up, registers a sender and sends a message with
its own token; the fake Twilio posts its signed status callbacks and an inbound STOP to the
gateway's public URL (as Twilio reaches a real installation), which passes them to integration
without a token; a forged callback is refused there and changes nothing."""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from v100.contracts.topology import SERVICES
from v100.kit.settings import PlatformSettings
from v100.kit.testing.fakes.twilio import FakeTwilio
from v100.kit.testing.net import free_port
from v100.kit.testing.servers import dead_url, serving
from v100.services.gateway.app import create_app as create_gateway
from v100.services.gateway.settings import GatewaySettings
from v100.services.gateway.testing import UNTHROTTLED
from v100.services.integration.app import create_app as create_integration
from v100.services.integration.settings import IntegrationSettings

from .integration_support import INTERNAL_SECRET, eventually

SENDER, RECIPIENT = "+14155550199", "+14155550100"


async def test_an_sms_is_sent_and_its_callbacks_arrive_through_the_gateway(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SQLite only: the path through the gateway is what is tested here; test_sms.py runs the
    # rest on PostgreSQL and Redis too.
    monkeypatch.delenv("V100_REDIS_URL", raising=False)
    twilio = FakeTwilio()
    gateway_port = free_port()
    public_url = f"http://127.0.0.1:{gateway_port}"

    def platform(name: str) -> PlatformSettings:
        return PlatformSettings(
            var_dir=tmp_path / name, internal_token_secret=INTERNAL_SECRET, public_url=public_url
        )

    async with AsyncExitStack() as stack:
        twilio_url = await stack.enter_async_context(serving(twilio.app, lifespan="off"))
        integration = create_integration(
            IntegrationSettings(
                platform=platform("integration"),
                database_url=f"sqlite+aiosqlite:///{tmp_path}/integration.db",
                twilio_account_sid=twilio.account_sid,
                twilio_auth_token=SecretStr(twilio.auth_token),
                twilio_api_base_url=twilio_url,
                sms_poll_seconds=0.05,
                consume_from_start=False,
            )
        )
        integration_url = await stack.enter_async_context(serving(integration, ready=True))
        upstreams = {info.name: dead_url() for info in SERVICES if info.name != "gateway"}
        upstreams["integration"] = integration_url
        gateway = create_gateway(
            GatewaySettings(
                platform=platform("gateway"),
                database_url=f"sqlite+aiosqlite:///{tmp_path}/gateway.db",
                jwt_secret="gateway-jwt-secret-for-the-sms-gateway-test-0123456",
                password_time_cost=1,
                password_memory_kib=1024,
                password_parallelism=1,
                upstreams=upstreams,
                **UNTHROTTLED,
            )
        )
        await stack.enter_async_context(serving(gateway, ready=True, port=gateway_port))
        http = await stack.enter_async_context(
            httpx.AsyncClient(base_url=public_url, trust_env=False, timeout=30)
        )
        signup = await http.post(
            "/v1/auth/signup",
            json={"email": "sam@example.com", "password": "correct horse battery staple",
                  "tenant_name": "Sam Clinic"},
        )  # fmt: skip
        assert signup.status_code == 201, signup.text
        me = {"Authorization": f"Bearer {signup.json()['access_token']}"}

        sender = await http.post(
            "/v1/sms/senders", json={"phone_number": SENDER},
            headers={**me, "Idempotency-Key": "sender-1"},
        )  # fmt: skip
        assert sender.status_code == 201, sender.text
        inbound_url = sender.json()["inbound_webhook_url"]
        assert inbound_url == f"{public_url}/v1/sms/callbacks/inbound"
        sent = await http.post(
            "/v1/sms/messages", json={"to": RECIPIENT, "body": "See you at 10:00."},
            headers={**me, "Idempotency-Key": "reminder-1"},
        )  # fmt: skip
        assert sent.status_code == 202, sent.text
        path = f"/v1/sms/messages/{sent.json()['id']}"

        async def delivered() -> dict[str, Any] | None:
            found = (await http.get(path, headers=me)).json()
            return found if found["status"] == "delivered" else None

        found = await eventually(delivered)
        await twilio.settled()
        assert [(c.params["MessageStatus"], c.status_code) for c in twilio.callbacks] == [
            ("queued", 204), ("sent", 204), ("delivered", 204),
        ]  # fmt: skip
        assert all(
            c.url.startswith(f"{public_url}/v1/sms/callbacks/status?") for c in twilio.callbacks
        )

        forged = await twilio.post_status(found["twilio_sid"], "failed", signature="Zm9yZ2Vk")
        assert forged.status_code == 403
        assert forged.json()["type"] == "/problems/invalid-signature"
        assert (await http.get(path, headers=me)).json()["status"] == "delivered"

        stop = await twilio.inbound(inbound_url, from_=RECIPIENT, to=SENDER, body="STOP")
        assert stop.status_code == 200, stop.text
        refused = await http.post(
            "/v1/sms/messages", json={"to": RECIPIENT, "body": "One more thing"},
            headers={**me, "Idempotency-Key": "reminder-2"},
        )  # fmt: skip
        assert refused.status_code == 409
        assert refused.json()["type"] == "/problems/recipient-opted-out"
        assert len(twilio.sent()) == 1
