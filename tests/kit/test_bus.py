"""The bus on both backends: streams with consumer groups (sharing, acks, redelivery, groups,
trimming, the consume loop), pub/sub fan-out, and surviving a Redis restart."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest
from pydantic import ValidationError

from v100.kit._redis import connect
from v100.kit.bus import (
    BackendUnavailable,
    Bus,
    Event,
    MemoryBus,
    Message,
    RedisBus,
    create_bus,
)
from v100.kit.testing.bus import BACKENDS, RedisServer, redis_url_or_skip


def _event(n: int = 0, type_: str = "video.upload.completed") -> Event:
    return Event(type=type_, source="tests", tenant_id="t1", data={"n": n})


async def _until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 5.0
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


async def _eventually(check: Callable[[], Awaitable[bool]]) -> None:
    deadline = time.monotonic() + 5.0
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


def test_event_round_trips_through_json() -> None:
    event = _event(7)
    again = Event.from_json(event.to_json())
    assert again == event
    assert again.time.tzinfo is not None


def test_event_type_must_be_dotted() -> None:
    with pytest.raises(ValidationError):
        Event(type="Uploaded", source="tests")


async def test_publish_read_ack(bus: Bus) -> None:
    ids = [await bus.publish("videos", _event(n)) for n in range(3)]
    messages = await bus.read("videos", "analysis", "c1", count=10)
    assert [m.id for m in messages] == ids
    assert [m.event.data["n"] for m in messages] == [0, 1, 2]
    assert all(m.delivery_count == 1 and m.stream == "videos" for m in messages)
    assert await bus.ack("videos", "analysis", *ids) == 3
    assert await bus.ack("videos", "analysis", *ids) == 0
    # Acknowledged messages never come back, however long we wait to reclaim them.
    assert await bus.read("videos", "analysis", "c1", redeliver_after_ms=0) == []


async def test_consumers_of_a_group_share_the_messages(bus: Bus) -> None:
    for n in range(6):
        await bus.publish("videos", _event(n))
    first = await bus.read("videos", "analysis", "c1", count=3)
    second = await bus.read("videos", "analysis", "c2", count=10)
    assert len(first) == 3
    assert len(second) == 3
    ns = [m.event.data["n"] for m in first + second]
    assert sorted(ns) == list(range(6))


async def test_unacked_message_is_redelivered_after_idle(bus: Bus) -> None:
    message_id = await bus.publish("videos", _event())
    [delivered] = await bus.read("videos", "analysis", "c1")
    assert delivered.id == message_id
    # Not yet idle long enough: another consumer must not steal work in progress.
    assert await bus.read("videos", "analysis", "c2", redeliver_after_ms=300) == []
    await asyncio.sleep(0.35)
    [again] = await bus.read("videos", "analysis", "c2", redeliver_after_ms=300)
    assert again.id == message_id
    assert again.event == delivered.event
    assert again.delivery_count == 2
    assert await bus.ack("videos", "analysis", message_id) == 1
    await asyncio.sleep(0.35)
    assert await bus.read("videos", "analysis", "c1", redeliver_after_ms=300) == []


async def test_every_group_gets_every_message(bus: Bus) -> None:
    ids = [await bus.publish("videos", _event(n)) for n in range(5)]
    for group in ("analysis", "webhooks"):
        messages = await bus.read("videos", group, "c1", count=10)
        assert [m.id for m in messages] == ids


async def test_group_created_late_starts_where_asked(bus: Bus) -> None:
    early = await bus.publish("videos", _event(0))
    await bus.ensure_group("videos", "newcomer", from_start=False)
    late = await bus.publish("videos", _event(1))
    assert [m.id for m in await bus.read("videos", "newcomer", "c1")] == [late]
    # ``read`` on an unknown group starts from the oldest retained message.
    assert [m.id for m in await bus.read("videos", "replayer", "c1")] == [early, late]


async def test_blocking_read_wakes_on_publish(bus: Bus) -> None:
    await bus.ensure_group("videos", "analysis")
    reader = asyncio.create_task(bus.read("videos", "analysis", "c1", block_ms=3000))
    await asyncio.sleep(0.1)
    started = time.monotonic()
    message_id = await bus.publish("videos", _event())
    messages = await asyncio.wait_for(reader, 2)
    assert [m.id for m in messages] == [message_id]
    assert time.monotonic() - started < 1.0


async def test_blocking_read_times_out_empty(bus: Bus) -> None:
    started = time.monotonic()
    assert await bus.read("videos", "analysis", "c1", block_ms=200) == []
    assert time.monotonic() - started >= 0.15


async def test_max_len_trims_oldest(bus: Bus) -> None:
    ids = [await bus.publish("videos", _event(n), max_len=50) for n in range(300)]
    retained = await bus.read("videos", "late", "c1", count=1000)
    # Approximate trimming keeps at least max_len, the newest ones.
    assert 50 <= len(retained) < 300
    assert [m.id for m in retained] == ids[-len(retained) :]


async def test_consume_acks_success_and_redelivers_failure(bus: Bus) -> None:
    attempts: dict[int, int] = {}
    handled: list[int] = []

    async def handler(message: Message) -> None:
        n = message.event.data["n"]
        attempts[n] = attempts.get(n, 0) + 1
        if n == 1 and attempts[n] == 1:
            raise RuntimeError("transient failure")
        handled.append(n)

    for n in range(3):
        await bus.publish("videos", _event(n))
    task = asyncio.create_task(
        bus.consume("videos", "analysis", "c1", handler, block_ms=100, redeliver_after_ms=150)
    )
    await _until(lambda: sorted(handled) == [0, 1, 2])
    assert attempts == {0: 1, 1: 2, 2: 1}
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # Everything handled was acknowledged: nothing is left to reclaim.
    assert await bus.read("videos", "analysis", "c2", redeliver_after_ms=0) == []


async def test_consume_cancelled_mid_handler_leaves_message_pending(bus: Bus) -> None:
    entered = asyncio.Event()

    async def handler(message: Message) -> None:
        entered.set()
        await asyncio.sleep(60)

    message_id = await bus.publish("videos", _event())
    task = asyncio.create_task(bus.consume("videos", "analysis", "c1", handler, block_ms=100))
    await asyncio.wait_for(entered.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    [again] = await bus.read("videos", "analysis", "c2", redeliver_after_ms=0)
    assert again.id == message_id


async def test_a_trailing_star_subscribes_to_every_channel_of_the_prefix(bus: Bus) -> None:
    async with bus.subscribe("live.*") as every, bus.subscribe("live.a") as one:
        assert await bus.publish_ephemeral("live.a", b"a") == 2
        assert await bus.publish_ephemeral("live.b", b"b") == 1
        assert await bus.publish_ephemeral("lively", b"not the prefix") == 0
        assert await bus.publish_ephemeral("live*", b"not the prefix either") == 0
        assert [await anext(every), await anext(every)] == [b"a", b"b"]
        assert await anext(one) == b"a"


async def test_pubsub_fans_out_to_every_subscriber(bus: Bus) -> None:
    async with bus.subscribe("room.1") as first, bus.subscribe("room.1") as second:
        assert await bus.publish_ephemeral("room.1", b"joined") == 2
        assert await bus.publish_ephemeral("room.1", '{"left": true}') == 2
        assert await bus.publish_ephemeral("room.2", b"elsewhere") == 0
        for subscription in (first, second):
            assert await asyncio.wait_for(anext(subscription), 5) == b"joined"
            assert await asyncio.wait_for(anext(subscription), 5) == b'{"left": true}'
    assert await bus.publish_ephemeral("room.1", b"nobody") == 0


async def test_closing_a_subscription_ends_its_iteration(bus: Bus) -> None:
    subscription = bus.subscribe("room.1")
    await subscription.open()
    received: list[bytes] = []

    async def drain() -> None:
        async for payload in subscription:
            received.append(payload)

    task = asyncio.create_task(drain())
    await bus.publish_ephemeral("room.1", b"one")
    await _until(lambda: received == [b"one"])
    await subscription.close()
    await asyncio.wait_for(task, 5)
    assert received == [b"one"]


async def test_ping(bus: Bus) -> None:
    assert await bus.ping() is True


@pytest.mark.parametrize("backend", BACKENDS)
async def test_slow_subscriber_drops_oldest(backend: str, request: pytest.FixtureRequest) -> None:
    bus: Bus
    if backend == "memory":
        bus = MemoryBus(subscriber_queue_size=3)
    else:
        prefix = request.getfixturevalue("redis_prefix")
        bus = RedisBus(redis_url_or_skip(), prefix=prefix, subscriber_queue_size=3)
    try:
        async with bus.subscribe("progress") as subscription:
            for n in range(5):
                await bus.publish_ephemeral("progress", str(n))
            await _until(lambda: subscription.dropped == 2)
            assert [await anext(subscription) for _ in range(3)] == [b"2", b"3", b"4"]
    finally:
        await bus.close()


async def test_in_process_buses_share_one_broker() -> None:
    # ``v100 up``: each service makes its own bus, and they must see each other's events.
    producer, consumer = create_bus(None), create_bus(None)
    stream = f"shared-{time.monotonic_ns()}"
    message_id = await producer.publish(stream, _event())
    assert [m.id for m in await consumer.read(stream, "g", "c1")] == [message_id]
    await producer.close()
    # Closing one service's bus leaves the others working.
    assert await consumer.ack(stream, "g", message_id) == 1


async def test_unreadable_redis_entry_is_skipped(redis_prefix: str) -> None:
    url = redis_url_or_skip()
    bus = RedisBus(url, prefix=redis_prefix)
    raw = connect(url)
    try:
        await raw.xadd(f"{redis_prefix}stream:videos", {"event": b"not json"})
        good = await bus.publish("videos", _event())
        assert [m.id for m in await bus.read("videos", "g", "c1")] == [good]
        assert await bus.ack("videos", "g", good) == 1
        # The bad entry was acknowledged too, so it is not redelivered forever.
        assert await bus.read("videos", "g", "c2", redeliver_after_ms=0) == []
    finally:
        await raw.aclose()
        await bus.close()


async def test_redis_bus_survives_a_restart(redis_server: RedisServer) -> None:
    bus = RedisBus(redis_server.url)
    handled: list[int] = []

    async def handler(message: Message) -> None:
        handled.append(message.event.data["n"])

    consumer = asyncio.create_task(bus.consume("videos", "analysis", "c1", handler, block_ms=200))
    try:
        await bus.publish("videos", _event(1))
        await _until(lambda: handled == [1])
        async with bus.subscribe("room.1") as subscription:
            await redis_server.stop()
            assert await bus.ping() is False
            with pytest.raises(BackendUnavailable):
                await bus.publish("videos", _event(99))
            with pytest.raises(BackendUnavailable):
                await bus.publish_ephemeral("room.1", b"lost")

            await redis_server.start()
            assert await bus.ping() is True
            # The server came back empty; the consumer recreates its group and goes on.
            await bus.publish("videos", _event(2))
            await _until(lambda: handled == [1, 2])
            assert not consumer.done()
            # The subscription re-subscribes by itself once it notices.
            await _eventually(lambda: _published(bus, "room.1", b"back"))
            assert await asyncio.wait_for(anext(subscription), 5) == b"back"
    finally:
        consumer.cancel()
        with pytest.raises(asyncio.CancelledError):
            await consumer
        await bus.close()


async def _published(bus: Bus, channel: str, payload: bytes) -> bool:
    return await bus.publish_ephemeral(channel, payload) > 0
