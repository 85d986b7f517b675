"""Replays (one message, a time range), the test event, ordering per resource for endpoints
that ask, no head-of-line blocking between endpoints, rate limits, and the endpoint that fails
for five days (the service's clock moved, not waited for)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import orjson

from v100.contracts.events import VIDEO_STREAM
from v100.services.integration.intake import Intake

from .conftest import Deploy
from .integration_support import Deployment, Received, Receiver, eventually, settled_as


async def test_a_message_and_a_time_range_are_replayed_with_the_same_ids(
    deploy: Deploy, receiver: Receiver
) -> None:
    async with deploy() as service:
        before = datetime.now(UTC) - timedelta(seconds=1)
        endpoint = await service.add_endpoint(receiver.endpoint(), event_types=["video.ready"])
        for name in ("a", "b"):
            await service.publish(VIDEO_STREAM, "video.ready", {"id": name})
        await service.publish(VIDEO_STREAM, "video.errored", {"id": "c"})  # filtered out
        await eventually(lambda: _received(receiver, 2))
        first_ids = [r.headers["webhook-id"] for r in receiver.received]
        # A replay queues settled deliveries: wait for both outcomes to be written (a receiver
        # can have its request before the service has recorded the answer).
        for message_id in first_ids:
            await eventually(lambda m=message_id: settled_as(service, m, "succeeded"))

        queued = await service.post(f"/v1/webhooks/messages/{first_ids[0]}/replay")
        assert queued == {"queued": 1}
        await eventually(lambda: _received(receiver, 3))
        assert receiver.received[2].headers["webhook-id"] == first_ids[0]

        queued = await service.post(
            f"/v1/webhooks/endpoints/{endpoint['id']}/replay", {"since": before.isoformat()}
        )
        assert queued == {"queued": 2}
        await eventually(lambda: _received(receiver, 5))
        assert sorted(r.headers["webhook-id"] for r in receiver.received[3:]) == sorted(first_ids)

        bad = await service.http.post(
            f"/v1/webhooks/endpoints/{endpoint['id']}/replay",
            json={"since": before.isoformat(), "until": (before - timedelta(1)).isoformat()},
            headers=service.headers(),
        )
        assert bad.status_code == 422
        assert bad.json()["type"] == "/problems/replay-range-invalid"


async def test_a_test_event_goes_to_its_endpoint_only(deploy: Deploy, receiver: Receiver) -> None:
    async with deploy() as service:
        target = await service.add_endpoint(receiver.endpoint("/t"), event_types=["video.*"])
        await service.add_endpoint(receiver.endpoint("/u"))
        message = await service.post(f"/v1/webhooks/endpoints/{target['id']}/test")
        assert message["event_type"] == "webhook.test"
        assert [d["endpoint_id"] for d in message["deliveries"]] == [target["id"]]
        await eventually(lambda: _received(receiver, 1))
        assert receiver.received[0].path == "/t"
        assert orjson.loads(receiver.received[0].body)["data"]["test"] is True
        await asyncio.sleep(0.2)
        assert len(receiver.received) == 1


async def test_an_ordered_endpoint_gets_one_resources_events_in_order(
    deploy: Deploy, receiver: Receiver
) -> None:
    # The first event of video x fails twice; x's later event waits for it, y's does not.
    failures = {"left": 2}

    def decide(request: Received) -> int | None:
        body = orjson.loads(request.body)
        if body["type"] == "video.upload.completed" and failures["left"]:
            failures["left"] -= 1
            return 500
        return None

    receiver.deciders["/ordered"] = decide
    async with deploy(retry_schedule_seconds=(0, 0.2, 0.2, 0.2)) as service:
        await service.add_endpoint(receiver.endpoint("/ordered"), ordered=True)
        await service.publish(VIDEO_STREAM, "video.upload.completed", {"id": "x"})
        await eventually(lambda: _received(receiver, 1))
        await service.publish(VIDEO_STREAM, "video.ready", {"id": "x"})
        await service.publish(VIDEO_STREAM, "video.ready", {"id": "y"})
        await eventually(lambda: _received(receiver, 5))
        order = [
            (body["type"], body["data"]["id"])
            for body in (orjson.loads(r.body) for r in receiver.received)
        ]
        x_events = [kind for kind, video in order if video == "x"]
        assert x_events == ["video.upload.completed"] * 3 + ["video.ready"]
        # y's event did not wait behind x's retries.
        assert order.index(("video.ready", "y")) < order.index(("video.ready", "x"))


async def test_an_unordered_endpoint_does_not_hold_back_later_events(
    deploy: Deploy, receiver: Receiver
) -> None:
    receiver.on("/free", 500, 200)
    async with deploy(retry_schedule_seconds=(0, 0.5)) as service:
        await service.add_endpoint(receiver.endpoint("/free"))
        await service.publish(VIDEO_STREAM, "video.upload.completed", {"id": "x"})
        await eventually(lambda: _received(receiver, 1))
        await service.publish(VIDEO_STREAM, "video.ready", {"id": "x"})
        await eventually(lambda: _received(receiver, 3))
        kinds = [orjson.loads(r.body)["type"] for r in receiver.received]
        assert kinds == ["video.upload.completed", "video.ready", "video.upload.completed"]


# The fault: 10,000 messages queued for one endpoint while another stays fast.
BACKLOG = 10_000


async def test_a_backlogged_slow_endpoint_does_not_block_another(
    deploy: Deploy, receiver: Receiver
) -> None:
    receiver.on("/slow", (200, 0.5))
    settings = {"endpoint_concurrency": 4, "delivery_concurrency": 16}
    async with deploy(**settings) as service:
        other = service.tenant
        slow_tenant = "00000000-0000-7000-8000-00000000s10w".replace("s10w", "5100")
        slow = await service.add_endpoint(receiver.endpoint("/slow"), tenant=slow_tenant)
        await service.add_endpoint(receiver.endpoint("/fast"), tenant=other)
        for start in range(0, BACKLOG, 50):  # 50 at a time: within the bus's Redis pool
            await asyncio.gather(*(
                service.publish(VIDEO_STREAM, "video.ready", {"id": f"s{n}"}, tenant=slow_tenant)
                for n in range(start, start + 50)
            ))  # fmt: skip
        await eventually(lambda: _recorded(service, BACKLOG), within=60)
        await eventually(lambda: _received_at(receiver, "/slow", 4))
        started = asyncio.get_running_loop().time()
        await service.publish(VIDEO_STREAM, "video.ready", {"id": "fast"}, tenant=other)
        await eventually(lambda: _received_at(receiver, "/fast", 1), within=5)
        waited = asyncio.get_running_loop().time() - started
        # Behind the slow backlog it would wait 10,000 x 0.5 s / 4 in flight = 21 min; alone,
        # well under a second (5 s leaves room for a loaded machine).
        assert waited < 5.0, waited
        # The slow endpoint never had more than its share in flight.
        assert service.dispatcher.in_flight_to(slow["id"]) <= 4
        assert len(receiver.at("/slow")) < BACKLOG


async def test_a_rate_limited_endpoint_is_sent_no_faster_than_its_limit(
    deploy: Deploy, receiver: Receiver
) -> None:
    async with deploy() as service:
        await service.add_endpoint(receiver.endpoint(), rate_limit=5)
        for n in range(12):
            await service.publish(VIDEO_STREAM, "video.ready", {"id": f"r{n}"})
        await eventually(lambda: _received(receiver, 12), within=10)
        times = [r.at for r in receiver.received]
        # 5 at once (the burst), then 5 per second: 12 take at least 1.2 s.
        assert times[-1] - times[0] >= 1.2


async def test_an_endpoint_failing_for_five_days_is_disabled(
    deploy: Deploy, receiver: Receiver
) -> None:
    receiver.on("/down", 503)
    hour = 3600.0
    async with deploy(retry_schedule_seconds=(0, hour, hour, hour, hour)) as service:
        down = await service.add_endpoint(receiver.endpoint("/down"), event_types=["video.*"])
        ops = await service.add_endpoint(receiver.endpoint("/ops"), event_types=["endpoint.*"])
        await service.publish(VIDEO_STREAM, "video.ready", {"id": "a"})
        await eventually(lambda: _received_at(receiver, "/down", 1))
        # The receiver answered; the outcome is recorded a moment later.
        await eventually(lambda: _failing(service, down["id"]))
        service.clock.advance(hour + 1)
        service.dispatcher.wake()
        await eventually(lambda: _received_at(receiver, "/down", 2))
        assert (await service.get(f"/v1/webhooks/endpoints/{down['id']}"))["enabled"] is True

        service.clock.advance(5 * 24 * hour)
        service.dispatcher.wake()
        await eventually(lambda: _received_at(receiver, "/ops", 1))
        disabled = await service.get(f"/v1/webhooks/endpoints/{down['id']}")
        assert disabled["enabled"] is False
        assert disabled["disabled_reason"] == "failing"
        assert orjson.loads(receiver.at("/ops")[0].body)["data"]["reason"] == "failing"
        # What waited for it is a dead letter now, ready to recover once it is fixed.
        letters = await service.get("/v1/webhooks/dead-letters", endpoint_id=down["id"])
        assert len(letters["items"]) == 1
        assert ops["id"] != down["id"]


async def _failing(service: Deployment, endpoint_id: str) -> bool:
    endpoint = await service.get(f"/v1/webhooks/endpoints/{endpoint_id}")
    return endpoint["failing_since"] is not None


async def _recorded(service: Deployment, count: int) -> bool:
    return service.app.state.runtime.get(Intake).recorded >= count  # type: ignore[no-any-return]


async def _received(receiver: Receiver, count: int) -> bool:
    return len(receiver.received) >= count


async def _received_at(receiver: Receiver, path: str, count: int) -> bool:
    return len(receiver.at(path)) >= count
