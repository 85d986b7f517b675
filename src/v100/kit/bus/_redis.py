"""The distributed bus on Redis: streams with consumer groups (XADD, XREADGROUP, XAUTOCLAIM,
XACK) and channels (PUBLISH, SUBSCRIBE). Keys live under one prefix (``v100:`` by default):
``<prefix>stream:<name>`` and ``<prefix>channel:<name>``.

A restarted Redis (run without persistence) comes back empty: a read that finds its group gone
recreates it, and subscriptions re-subscribe, so consumers resume by themselves."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from v100.kit._redis import CONNECTION_ERRORS, connect, raise_if_cancelled, unavailable
from v100.kit.bus._base import (
    DEFAULT_MAX_LEN,
    DEFAULT_REDELIVER_AFTER_MS,
    DEFAULT_SUBSCRIBER_QUEUE_SIZE,
    MAX_BLOCK_MS,
    Bus,
    Subscription,
)
from v100.kit.bus._event import Event, Message
from v100.kit.observability import get_logger

__all__ = ["RedisBus", "RedisSubscription"]

_log = get_logger("v100.kit.bus")

_SUBSCRIBE_TIMEOUT_SECONDS = 5.0
_POLL_SECONDS = 5.0


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _escaped(text: str) -> str:
    """``text`` matched literally by a Redis glob."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


class RedisSubscription(Subscription):
    """One Redis pub/sub connection, read by a task of its own into the subscriber's inbox, so
    the connection is drained (and re-established after an outage) even while the subscriber
    is busy. Payloads published while Redis is down or being reconnected to are lost: they
    are ephemeral by contract."""

    def __init__(
        self,
        client: aioredis.Redis,
        key: str,
        channel: str,
        queue_size: int,
        owner: set[RedisSubscription],
    ) -> None:
        super().__init__(channel, queue_size)
        self._pubsub = client.pubsub()
        # A trailing ``*``: every channel with that prefix (PSUBSCRIBE; the glob's other
        # characters are escaped, so only the trailing ``*`` matches anything).
        self._pattern = key.endswith("*")
        self._key = _escaped(key[:-1]) + "*" if self._pattern else key
        self._owner = owner
        self._reader: asyncio.Task[None] | None = None

    async def open(self) -> None:
        if self._reader is not None or self._inbox.closed:
            return
        async with unavailable("bus subscribe"):
            if self._pattern:
                await self._pubsub.psubscribe(self._key)
            else:
                await self._pubsub.subscribe(self._key)
            # Only once the server has confirmed is a publish from another connection sure to
            # reach us; callers rely on that ordering.
            async with asyncio.timeout(_SUBSCRIBE_TIMEOUT_SECONDS):
                while True:
                    reply = await self._pubsub.get_message(timeout=_POLL_SECONDS)
                    if reply is not None and reply["type"] in ("subscribe", "psubscribe"):
                        break
        self._reader = asyncio.create_task(self._read_forever(), name=f"subscribe:{self._key}")

    async def close(self) -> None:
        if self._inbox.closed:
            return
        self._inbox.close()
        self._owner.discard(self)
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        # A connection that is already gone has nothing left to release.
        with contextlib.suppress(RedisError, OSError):
            await self._pubsub.aclose()  # type: ignore[no-untyped-call]  # untyped in redis-py

    async def _read_forever(self) -> None:
        backoff = 0.05
        while True:
            try:
                # A timeout, not a blocking read, so redis-py's health checks get to run.
                reply = await self._pubsub.get_message(
                    ignore_subscribe_messages=True, timeout=_POLL_SECONDS
                )
                raise_if_cancelled()  # one redis-py swallowed: ``close`` waits for this task
            except CONNECTION_ERRORS as exc:
                # redis-py reconnects and re-subscribes on the next read once Redis is back.
                _log.debug("bus.subscription_reconnecting", channel=self.channel, error=str(exc))
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 1.0)
                continue
            except Exception:
                _log.exception("bus.subscription_failed", channel=self.channel)
                self._inbox.close()
                return
            backoff = 0.05
            if reply is not None and reply["type"] in ("message", "pmessage"):
                self._inbox.put(bytes(reply["data"]))


class RedisBus(Bus):
    def __init__(
        self,
        url: str,
        *,
        prefix: str = "v100:",
        max_len: int | None = DEFAULT_MAX_LEN,
        redeliver_after_ms: int = DEFAULT_REDELIVER_AFTER_MS,
        subscriber_queue_size: int = DEFAULT_SUBSCRIBER_QUEUE_SIZE,
    ) -> None:
        self._redis = connect(url)
        self._subscriber_queue_size = subscriber_queue_size
        self._prefix = prefix
        self._max_len = max_len
        self._redeliver_after_ms = redeliver_after_ms
        # Groups this process has made sure of, so reads skip XGROUP CREATE.
        self._groups: set[tuple[str, str]] = set()
        # XAUTOCLAIM cursor per group: each read scans on from where the last one stopped.
        self._claim_from: dict[tuple[str, str], str] = {}
        self._subscriptions: set[RedisSubscription] = set()

    def _stream_key(self, stream: str) -> str:
        return f"{self._prefix}stream:{stream}"

    def _channel_key(self, channel: str) -> str:
        return f"{self._prefix}channel:{channel}"

    async def publish(self, stream: str, event: Event, *, max_len: int | None = None) -> str:
        limit = max_len if max_len is not None else self._max_len
        async with unavailable("bus publish"):
            message_id = await self._redis.xadd(
                self._stream_key(stream),
                {"event": event.to_json()},
                maxlen=limit,
                approximate=True,
            )
        return _text(message_id)

    async def ensure_group(self, stream: str, group: str, *, from_start: bool = True) -> None:
        async with unavailable("bus ensure_group"):
            try:
                await self._redis.xgroup_create(
                    self._stream_key(stream), group, id="0" if from_start else "$", mkstream=True
                )
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise
        self._groups.add((stream, group))

    async def read(
        self,
        stream: str,
        group: str,
        consumer: str,
        *,
        count: int = 10,
        block_ms: int = 0,
        redeliver_after_ms: int | None = None,
    ) -> list[Message]:
        if (stream, group) not in self._groups:
            await self.ensure_group(stream, group)
        idle_ms = self._redeliver_after_ms if redeliver_after_ms is None else redeliver_after_ms
        try:
            async with unavailable("bus read"):
                return await self._read(stream, group, consumer, count, block_ms, idle_ms)
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
        # The group is gone: Redis restarted without persistence, or the stream was deleted.
        # Recreate it from the start so whatever was published since is read.
        _log.info("bus.group_recreated", stream=stream, group=group)
        self._groups.discard((stream, group))
        self._claim_from.pop((stream, group), None)
        await self.ensure_group(stream, group)
        async with unavailable("bus read"):
            return await self._read(stream, group, consumer, count, block_ms, idle_ms)

    async def _read(
        self, stream: str, group: str, consumer: str, count: int, block_ms: int, idle_ms: int
    ) -> list[Message]:
        key = self._stream_key(stream)
        messages = await self._claim(stream, group, consumer, count, idle_ms)
        if len(messages) < count:
            # Block only when there is nothing to hand back yet.
            block = min(block_ms, MAX_BLOCK_MS) if block_ms > 0 and not messages else None
            reply = await self._redis.xreadgroup(
                group, consumer, {key: ">"}, count=count - len(messages), block=block
            )
            # RESP2 (the client's protocol): [[key, [(id, fields), ...]], ...] or None.
            for _key, entries in reply if isinstance(reply, list) else []:
                messages.extend(await self._decode(stream, group, entries, {}))
        return messages

    async def _claim(
        self, stream: str, group: str, consumer: str, count: int, idle_ms: int
    ) -> list[Message]:
        key = self._stream_key(stream)
        start = self._claim_from.get((stream, group), "0-0")
        reply = await self._redis.xautoclaim(
            key, group, consumer, min_idle_time=idle_ms, start_id=start, count=count
        )
        self._claim_from[(stream, group)] = _text(reply[0])
        # Entries trimmed while pending come back as ids only (Redis 7) or as (None, None)
        # (Redis 6.2); Redis drops them from the pending list itself.
        claimed = [entry for entry in reply[1] if entry[0] is not None]
        if not claimed:
            return []
        # XAUTOCLAIM does not say how often a message was delivered; XPENDING does.
        pipe = self._redis.pipeline(transaction=False)
        for message_id, _fields in claimed:
            pipe.xpending_range(key, group, min=message_id, max=message_id, count=1)
        counts: dict[str, int] = {}
        for rows in await pipe.execute():
            for row in rows:
                counts[_text(row["message_id"])] = int(row["times_delivered"])
        return await self._decode(stream, group, claimed, counts)

    async def _decode(
        self,
        stream: str,
        group: str,
        entries: list[tuple[bytes, dict[bytes, Any]]],
        counts: dict[str, int],
    ) -> list[Message]:
        messages: list[Message] = []
        poisoned: list[str] = []
        for raw_id, fields in entries:
            message_id = _text(raw_id)
            try:
                event = Event.from_json(fields[b"event"])
            except (KeyError, ValueError):
                # Not an event we can ever read: redelivering it would fail forever.
                _log.error("bus.unreadable_message", stream=stream, message_id=message_id)
                poisoned.append(message_id)
                continue
            messages.append(Message(message_id, stream, event, counts.get(message_id, 1)))
        if poisoned:
            await self._redis.xack(self._stream_key(stream), group, *poisoned)
        return messages

    async def ack(self, stream: str, group: str, *message_ids: str) -> int:
        if not message_ids:
            return 0
        async with unavailable("bus ack"):
            return int(await self._redis.xack(self._stream_key(stream), group, *message_ids))

    async def publish_ephemeral(self, channel: str, payload: bytes | str) -> int:
        async with unavailable("bus publish_ephemeral"):
            return int(await self._redis.publish(self._channel_key(channel), payload))

    def subscribe(self, channel: str) -> RedisSubscription:
        subscription = RedisSubscription(
            self._redis,
            self._channel_key(channel),
            channel,
            self._subscriber_queue_size,
            self._subscriptions,
        )
        self._subscriptions.add(subscription)
        return subscription

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except (RedisError, OSError):
            return False

    async def close(self) -> None:
        for subscription in list(self._subscriptions):
            await subscription.close()
        await self._redis.aclose()
