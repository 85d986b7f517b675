"""Issue 13's "done means" for webhooks and the event stream, through the gateway with an API
key: a tenant registers an endpoint, uploads a video, and receives ``video.upload.completed``,
``video.rendition.ready`` and ``video.ready`` as Standard Webhooks that the ``standardwebhooks``
library verifies; the receiver goes down, the retries fail into the dead-letter list, the
receiver comes back and the dead letters are recovered (same ``webhook-id``); the same events
are read by poll, by a consumer group with acks, and by SSE from a cursor. Every service is a
real uvicorn server on loopback, sharing the in-process bus as ``make up`` runs them."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from standardwebhooks import Webhook
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from tusclient import client as tus_client

from v100.kit.settings import PlatformSettings
from v100.kit.testing.net import CuttableTcpProxy, free_port
from v100.kit.testing.servers import serving
from v100.media.testing import make_video
from v100.services.billing.app import create_app as create_billing
from v100.services.billing.settings import BillingSettings
from v100.services.gateway.app import create_app as create_gateway
from v100.services.gateway.testing import INTERNAL_SECRET, PASSWORD, gateway_settings_for
from v100.services.integration.app import create_app as create_integration
from v100.services.integration.settings import IntegrationSettings
from v100.services.video_processing.app import create_app as create_video_processing
from v100.services.video_processing.settings import VideoProcessingSettings

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

VIDEO_EVENTS = ["video.upload.completed", "video.rendition.ready", "video.ready"]


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def payload(self) -> dict[str, Any]:
        return dict(orjson.loads(self.body))


@dataclass
class Receiver:
    """The tenant's webhook receiver, behind a TCP proxy the test can cut (the receiver down:
    connections refused) and open again."""

    url: str
    proxy: CuttableTcpProxy
    received: list[Received] = field(default_factory=list)

    def of_type(self, event_type: str) -> list[Received]:
        return [r for r in self.received if r.payload["type"] == event_type]


@dataclass
class Stack:
    http: httpx.AsyncClient  # the gateway, with the tenant's API key
    receiver: Receiver
    tmp: Path


async def _until(check: Any, within: float = 120.0, every: float = 0.1) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        value = await check()
        if value:
            return value
        await asyncio.sleep(every)
    raise TimeoutError(f"not within {within} s")


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    receiver_app_received: list[Received] = []

    async def hook(request: Request) -> Response:
        receiver_app_received.append(Received(dict(request.headers), await request.body()))
        return Response(status_code=204)

    receiver_app = Starlette(routes=[Route("/hook", hook, methods=["POST"])])
    gateway_port = free_port()
    platform = PlatformSettings(
        var_dir=tmp_path,
        internal_token_secret=INTERNAL_SECRET,
        database_url=f"sqlite+aiosqlite:///{tmp_path}/{{service}}.db",
        storage_url=f"file://{tmp_path}/objects",
        # The URLs handed out (direct uploads) name the way in.
        public_url=f"http://127.0.0.1:{gateway_port}",
    )
    async with AsyncExitStack() as running:
        receiver_url = await running.enter_async_context(serving(receiver_app, lifespan="off"))
        port = int(receiver_url.rsplit(":", 1)[1])
        proxy = CuttableTcpProxy("127.0.0.1", port)
        await proxy.open()
        running.push_async_callback(proxy.cut)
        billing = await running.enter_async_context(
            serving(create_billing(BillingSettings(platform=platform)), ready=True)
        )
        video = await running.enter_async_context(
            serving(
                create_video_processing(
                    VideoProcessingSettings(platform=platform, billing_url=billing)
                ),
                ready=True,
            )
        )
        integration_settings = IntegrationSettings(
            platform=platform,
            allow_loopback_receivers=True,
            # The in-process bus outlives one test: a group of its own, from now on.
            consumer_group=f"e2e-{uuid.uuid4().hex[:8]}",
            consume_from_start=False,
            retry_schedule_seconds=(0, 0.2, 0.2),
            retry_jitter_ratio=0.0,
            dispatch_poll_seconds=0.05,
            stream_settle_seconds=0.05,
            stream_poll_seconds=0.1,
        )
        integration = await running.enter_async_context(
            serving(create_integration(integration_settings), ready=True)
        )
        gateway_settings = gateway_settings_for(
            f"sqlite+aiosqlite:///{tmp_path}/gateway.db",
            tmp_path,
            upstreams={"video_processing": video, "billing": billing, "integration": integration},
        )
        gateway = await running.enter_async_context(
            serving(create_gateway(gateway_settings), port=gateway_port, ready=True)
        )
        http = await running.enter_async_context(
            httpx.AsyncClient(base_url=gateway, trust_env=False, timeout=30)
        )
        signup = await http.post(
            "/v1/auth/signup",
            json={"email": "hooks@example.com", "password": PASSWORD, "tenant_name": "Hooks"},
        )
        assert signup.status_code == 201, signup.text
        created = await http.post(
            "/v1/api-keys",
            headers={"Authorization": f"Bearer {signup.json()['access_token']}"},
            json={"name": "e2e", "scopes": ["*"]},
        )
        assert created.status_code == 201, created.text
        http.headers["X-API-Key"] = created.json()["key"]
        receiver = Receiver(f"http://127.0.0.1:{proxy.port}/hook", proxy, receiver_app_received)
        yield Stack(http, receiver, tmp_path)


async def _post(stack: Stack, path: str, body: Any, status: int) -> dict[str, Any]:
    answer = await stack.http.post(path, json=body, headers={"Idempotency-Key": uuid.uuid4().hex})
    assert answer.status_code == status, answer.text
    return dict(answer.json())


async def _upload(stack: Stack) -> dict[str, Any]:
    source = make_video(stack.tmp / "clip.mp4", seconds=2, width=320, height=240)
    direct = await _post(stack, "/v1/uploads", {"new_video": {"title": "hooked"}}, 201)

    def browser() -> str:
        uploader = tus_client.TusClient(direct["url"]).uploader(str(source), chunk_size=1 << 20)
        uploader.upload()
        return str(uploader.url)

    upload_id = (await asyncio.to_thread(browser)).rsplit("/", 1)[1]

    async def settled() -> dict[str, Any] | None:
        answer = await stack.http.get("/v1/videos", params={"upload_id": upload_id})
        assert answer.status_code == 200, answer.text
        items = answer.json()["items"]
        return items[0] if items and items[0]["status"] in ("ready", "errored") else None

    video = await _until(settled)
    assert video["status"] == "ready", video
    return dict(video)


async def test_video_webhooks_retries_dead_letters_and_the_event_stream(stack: Stack) -> None:
    receiver = stack.receiver
    endpoint = await _post(
        stack,
        "/v1/webhooks/endpoints",
        {"url": receiver.url, "event_types": ["video.*"], "description": "e2e"},
        201,
    )
    webhook = Webhook(endpoint["secret"])

    # 1. A real upload: its three kinds of events arrive signed.
    video = await _upload(stack)

    async def all_three() -> bool:
        return all(receiver.of_type(kind) for kind in VIDEO_EVENTS)

    await _until(all_three)
    for kind in VIDEO_EVENTS:
        for delivery in receiver.of_type(kind):
            verified = webhook.verify(delivery.body, delivery.headers)
            assert verified["data"]["id"] == video["id"]
    assert {r.payload["data"]["rendition"]["name"] for r in receiver.of_type(VIDEO_EVENTS[1])} >= {
        "master"
    }
    ids = [r.headers["webhook-id"] for r in receiver.received]
    assert len(ids) == len(set(ids))  # each message once

    # 2. The receiver goes down: the test message fails every attempt into the dead letters.
    down_since = datetime.now(UTC).isoformat()
    await receiver.proxy.cut()
    before = len(receiver.received)
    message = await _post(
        stack, f"/v1/webhooks/endpoints/{endpoint['id']}/test", {"event_type": "webhook.test"}, 202
    )

    async def dead_lettered() -> list[dict[str, Any]]:
        answer = await stack.http.get("/v1/webhooks/dead-letters")
        assert answer.status_code == 200, answer.text
        return [d for d in answer.json()["items"] if d["message_id"] == message["id"]]

    await _until(dead_lettered, within=30)
    attempts = (await stack.http.get(f"/v1/webhooks/messages/{message['id']}/attempts")).json()
    assert [a["outcome"] for a in attempts["items"]] == ["failed"] * 3
    assert all(a["status_code"] is None and a["error"] for a in attempts["items"])
    assert len(receiver.received) == before

    # 3. It comes back; recovering the dead letters delivers the message, same webhook-id.
    await receiver.proxy.open()
    queued = await _post(
        stack, f"/v1/webhooks/endpoints/{endpoint['id']}/recover", {"since": down_since}, 202
    )
    assert queued["queued"] == 1

    async def recovered() -> list[Received]:
        return receiver.of_type("webhook.test")

    (delivered,) = await _until(recovered, within=30)
    assert delivered.headers["webhook-id"] == message["id"]
    webhook.verify(delivered.body, delivered.headers)

    # 4. The same video events by poll, from the start and after a cursor.
    page = (await stack.http.get("/v1/events-stream", params={"type": "video.*"})).json()
    polled = [e for e in page["items"] if e["data"].get("id") == video["id"]]
    assert [e["type"] for e in polled][:1] == ["video.upload.completed"]
    assert [e["type"] for e in polled][-1] == "video.ready"
    # A stream event's id is its message's, which is the webhook-id its deliveries carried.
    assert {e["id"] for e in polled} == {
        r.headers["webhook-id"] for kind in VIDEO_EVENTS for r in receiver.of_type(kind)
    }
    after_first = await stack.http.get(
        "/v1/events-stream", params={"type": "video.*", "cursor": polled[0]["id"]}
    )
    assert [e["id"] for e in after_first.json()["items"]] == [e["id"] for e in polled[1:]]

    # 5. By a consumer group: read, acknowledge, and nothing comes back.
    group = await _post(
        stack,
        "/v1/events-stream/groups",
        {"name": "billing-sync", "event_types": ["video.*"], "start": "earliest"},
        201,
    )
    read = await _post(stack, f"/v1/events-stream/groups/{group['id']}/read", {"limit": 100}, 200)
    assert [e["id"] for e in read["items"]] == [e["id"] for e in polled]
    acked = await _post(
        stack,
        f"/v1/events-stream/groups/{group['id']}/ack",
        {"ids": [e["id"] for e in read["items"]]},
        200,
    )
    assert acked["acknowledged"] == len(polled)
    again = await _post(stack, f"/v1/events-stream/groups/{group['id']}/read", {}, 200)
    assert again["items"] == []

    # 6. By SSE, resumed after the first event with Last-Event-ID.
    seen: list[dict[str, Any]] = []
    async with stack.http.stream(
        "GET",
        "/v1/events-stream/sse",
        params={"type": "video.*"},
        headers={"Last-Event-ID": polled[0]["id"], "Accept": "text/event-stream"},
    ) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        async with asyncio.timeout(30):
            async for line in stream.aiter_lines():
                if line.startswith("data:"):
                    seen.append(orjson.loads(line[5:]))
                if len(seen) == len(polled) - 1:
                    break
    assert [e["id"] for e in seen] == [e["id"] for e in polled[1:]]
