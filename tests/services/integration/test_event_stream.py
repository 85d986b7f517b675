"""The event stream: poll after a cursor, history over a time range with type filters, consumer
groups whose unacknowledged events come back after their visibility timeout, and live
subscriptions over SSE (resumed with Last-Event-ID) and WebSocket, on a real server."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import websockets

from v100.contracts.events import RECORDINGS_STREAM, VIDEO_STREAM
from v100.kit.testing.servers import serving
from v100.services.integration.retention import sweep
from v100.services.integration.stream_hub import StreamHub
from v100.services.integration.streams import StreamService

from .conftest import Deploy
from .integration_support import Deployment, Receiver, eventually, holds, new_tenant

FAST_STREAM = {"stream_settle_seconds": 0.05, "stream_poll_seconds": 0.1}


async def _publish_three(service: Deployment) -> None:
    """Three events from two streams, each recorded before the next is published: the stream's
    order is the order integration recorded them in, and the streams are read side by side."""
    await service.publish_recorded(VIDEO_STREAM, "video.upload.completed", {"id": "v"})
    await service.publish_recorded(RECORDINGS_STREAM, "recording.ready", {"recording_id": "r"})
    await service.publish_recorded(VIDEO_STREAM, "video.ready", {"id": "v"})


async def _poll(service: Deployment, **params: Any) -> dict[str, Any]:
    return dict(await service.get("/v1/events-stream", **params))


async def test_poll_after_a_cursor_with_type_filters(deploy: Deploy) -> None:
    async with deploy(**FAST_STREAM) as service:
        await _publish_three(service)
        await service.publish(VIDEO_STREAM, "video.ready", {"id": "other"}, tenant=new_tenant())
        page = await eventually(lambda: _full(service, 3))
        assert [e["type"] for e in page["items"]] == [
            "video.upload.completed",
            "recording.ready",
            "video.ready",
        ]
        first = await _poll(service, limit=1)
        assert len(first["items"]) == 1
        rest = await _poll(service, cursor=first["next_cursor"])
        assert [e["type"] for e in rest["items"]] == ["recording.ready", "video.ready"]
        idle = await _poll(service, cursor=rest["next_cursor"])
        assert idle == {"items": [], "next_cursor": rest["next_cursor"]}
        videos = await _poll(service, type=["video.*"])
        assert [e["data"]["id"] for e in videos["items"]] == ["v", "v"]

        since = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
        history = await service.get(
            "/v1/events-stream/history", since=since, type=["recording.ready"]
        )
        assert [e["type"] for e in history["items"]] == ["recording.ready"]


async def test_a_consumer_group_redelivers_what_was_not_acknowledged(deploy: Deploy) -> None:
    async with deploy(**FAST_STREAM) as service:
        group = await service.post(
            "/v1/events-stream/groups", {"name": "billing-sync", "start": "earliest"}, status=201
        )
        path = f"/v1/events-stream/groups/{group['id']}"
        await _publish_three(service)
        await eventually(lambda: _full(service, 3))
        read = await service.post(
            f"{path}/read", {"limit": 2, "visibility_timeout": 30}, status=200
        )
        assert [e["type"] for e in read["items"]] == ["video.upload.completed", "recording.ready"]
        assert {e["deliveries"] for e in read["items"]} == {1}
        nxt = await service.post(f"{path}/read", {"limit": 5}, status=200)
        assert [e["type"] for e in nxt["items"]] == ["video.ready"]  # the others are hidden
        acked = await service.post(
            f"{path}/ack", {"ids": [read["items"][0]["id"], nxt["items"][0]["id"]]}, status=200
        )
        assert acked == {"acknowledged": 2}
        assert (await service.post(f"{path}/read", {}, status=200))["items"] == []

        service.clock.advance(31)  # the unacknowledged one's timeout passed: it comes back
        again = await service.post(f"{path}/read", {}, status=200)
        assert [(e["id"], e["deliveries"]) for e in again["items"]] == [(read["items"][1]["id"], 2)]
        duplicate = await service.http.post(
            "/v1/events-stream/groups", json={"name": "billing-sync"}, headers=service.creating()
        )
        assert duplicate.status_code == 409
        stranger = await service.http.post(
            f"{path}/read", json={}, headers=service.headers(new_tenant())
        )
        assert stranger.status_code == 404


async def test_sse_delivers_live_and_resumes_from_last_event_id(deploy: Deploy) -> None:
    # The running app served on loopback too (its lifespan already runs).
    async with (
        deploy(**FAST_STREAM) as service,
        serving(service.app, lifespan="off") as url,
        httpx.AsyncClient(base_url=url, timeout=10) as http,
    ):
        seen = await _sse(http, service.headers(), 2, lambda: _publish_three(service))
        assert [e["event"] for e in seen] == ["video.upload.completed", "recording.ready"]
        # Resumed after the second: the third (already published) comes first.
        resumed = await _sse(http, {**service.headers(), "Last-Event-ID": seen[1]["id"]}, 1)
        assert resumed[0]["event"] == "video.ready"
        assert orjson.loads(resumed[0]["data"])["data"] == {"id": "v"}


async def test_a_websocket_follows_the_stream_from_a_cursor(deploy: Deploy) -> None:
    async with deploy(**FAST_STREAM) as service, serving(service.app, lifespan="off") as url:
        ws_url = url.replace("http://", "ws://") + "/v1/events-stream/ws?type=video.*"
        async with websockets.connect(ws_url, additional_headers=service.headers()) as socket:
            await _publish_three(service)
            first = orjson.loads(await asyncio.wait_for(socket.recv(), 10))
            second = orjson.loads(await asyncio.wait_for(socket.recv(), 10))
        assert [first["type"], second["type"]] == ["video.upload.completed", "video.ready"]
        resumed_url = ws_url.replace("?", f"?cursor={first['id']}&")
        async with websockets.connect(resumed_url, additional_headers=service.headers()) as socket:
            again = orjson.loads(await asyncio.wait_for(socket.recv(), 10))
        assert again["id"] == second["id"]


async def _full(service: Deployment, count: int) -> dict[str, Any] | None:
    page = await _poll(service)
    return page if len(page["items"]) >= count else None


async def _sse(
    http: httpx.AsyncClient, headers: dict[str, str], count: int, then: Any = None
) -> list[dict[str, str]]:
    """The first ``count`` events of an SSE subscription (``then`` runs once subscribed)."""
    events: list[dict[str, str]] = []
    async with http.stream("GET", "/v1/events-stream/sse", headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        if then is not None:
            await then()
        current: dict[str, str] = {}
        async with asyncio.timeout(10):
            async for line in response.aiter_lines():
                if not line:
                    if "id" in current:
                        events.append(current)
                        if len(events) == count:
                            return events
                    current = {}
                    continue
                field, _, value = line.partition(": ")
                current[field] = value
    return events


async def test_messages_past_retention_are_removed_once_settled(
    deploy: Deploy, receiver: Receiver
) -> None:
    receiver.on("/down", 500)
    async with deploy(**FAST_STREAM, retry_schedule_seconds=(0, 3600)) as service:
        up = await service.add_endpoint(receiver.endpoint("/up"), event_types=["video.*"])
        await service.add_endpoint(receiver.endpoint("/down"), event_types=["recording.*"])
        await _publish_three(service)
        await eventually(lambda: _full(service, 3))
        await eventually(lambda: _arrived(receiver, 3))
        await eventually(lambda: _attempts(service, up["id"], 2))
        sessions = service.app.state.runtime.sessions
        later = service.clock.now() + timedelta(days=service.settings.retention_days, seconds=1)
        # The recording's delivery is still retrying: its message stays until it settles.
        assert await sweep(sessions, later) == 2
        service.clock.advance(service.settings.retention_days * 86400 + 2)
        remaining = await _poll(service)
        assert [e["type"] for e in remaining["items"]] == ["recording.ready"]


async def _attempts(service: Deployment, endpoint_id: str, count: int) -> bool:
    log = await service.get(f"/v1/webhooks/endpoints/{endpoint_id}/attempts")
    return len(log["items"]) >= count


async def _arrived(receiver: Receiver, count: int) -> bool:
    return len(receiver.received) >= count


async def test_a_subscriber_too_slow_for_its_buffer_catches_up_without_a_gap(
    deploy: Deploy,
) -> None:
    async with deploy(**FAST_STREAM, stream_subscriber_buffer=3) as service:
        hub = service.app.state.runtime.get(StreamHub)
        streams = StreamService(
            service.app.state.runtime.sessions, service.settings, service.clock, hub
        )
        follow = streams.follow(service.tenant, after=None, patterns=["video.*"])
        first = asyncio.ensure_future(anext(follow))
        await eventually(lambda: holds(hub.subscribers == 1))
        await service.publish_recorded(VIDEO_STREAM, "video.ready", {"id": "v0"})
        assert (await asyncio.wait_for(first, 10)).event_type == "video.ready"
        # Twenty more while the subscriber reads nothing: its buffer of three overflows.
        for n in range(1, 21):
            await service.publish(VIDEO_STREAM, "video.ready", {"id": f"v{n}"})
        await eventually(lambda: _recorded_all(service, 21))
        await asyncio.sleep(service.settings.stream_settle_seconds + 0.3)
        rest = [await asyncio.wait_for(anext(follow), 10) for _ in range(20)]
        await follow.aclose()
        assert [orjson.loads(m.payload)["data"]["id"] for m in rest if m is not None] == [
            f"v{n}" for n in range(1, 21)
        ]
        assert hub.subscribers == 0


async def _recorded_all(service: Deployment, count: int) -> bool:
    page = await service.get("/v1/webhooks/messages", limit=100)
    return len(page["items"]) >= count
