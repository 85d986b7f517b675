"""The in-process bus of the embedded mode: Redis-stream semantics (consumer groups, pending
lists, redelivery after idle, approximate trimming) and pub/sub fan-out, all in one process.

All services of ``v100 up`` share the process-wide ``MemoryBroker``; each ``MemoryBus`` is a
handle on it. Use it from the event loop only (worker threads hand events back to the loop).
"""

from __future__ import annotations

import asyncio
import time
from bisect import bisect_right
from dataclasses import dataclass, field

from v100.kit.bus._base import (
    DEFAULT_MAX_LEN,
    DEFAULT_REDELIVER_AFTER_MS,
    DEFAULT_SUBSCRIBER_QUEUE_SIZE,
    MAX_BLOCK_MS,
    Bus,
    Subscription,
)
from v100.kit.bus._event import Event, Message

__all__ = ["MemoryBroker", "MemoryBus", "MemorySubscription", "process_broker"]


@dataclass(slots=True)
class _Entry:
    key: tuple[int, int]
    id: str
    # Kept serialized so every delivery is a fresh copy, as with Redis, and an event that would
    # not survive JSON fails at publish in the embedded mode too.
    raw: bytes


@dataclass(slots=True)
class _Pending:
    consumer: str
    delivered_at: float
    count: int


@dataclass(slots=True)
class _Group:
    last_key: tuple[int, int]
    # In id order: new deliveries are always later ids, redeliveries keep their place.
    pending: dict[str, _Pending] = field(default_factory=dict)


@dataclass(slots=True)
class _Stream:
    entries: list[_Entry] = field(default_factory=list)
    by_id: dict[str, _Entry] = field(default_factory=dict)
    groups: dict[str, _Group] = field(default_factory=dict)
    last_key: tuple[int, int] = (0, 0)
    waiters: list[asyncio.Future[None]] = field(default_factory=list)

    def next_key(self) -> tuple[int, int]:
        ms = int(time.time() * 1000)
        last_ms, last_seq = self.last_key
        key = (ms, 0) if ms > last_ms else (last_ms, last_seq + 1)
        self.last_key = key
        return key

    def trim(self, max_len: int) -> None:
        # Approximate like Redis' ``MAXLEN ~``: trim in batches, never below ``max_len``.
        if len(self.entries) <= max_len + max_len // 10:
            return
        cut = len(self.entries) - max_len
        for entry in self.entries[:cut]:
            del self.by_id[entry.id]
        del self.entries[:cut]

    def wake(self) -> None:
        for waiter in self.waiters:
            if not waiter.done() and not waiter.get_loop().is_closed():
                waiter.set_result(None)
        self.waiters.clear()


class MemoryBroker:
    """Streams and channels of one process."""

    def __init__(self) -> None:
        self.streams: dict[str, _Stream] = {}
        self.channels: dict[str, set[MemorySubscription]] = {}
        # Prefix subscriptions (``room.*``) apart, so a publish looks only at them, not at
        # every channel.
        self.patterns: dict[str, set[MemorySubscription]] = {}

    def subscribers(self, channel: str) -> dict[str, set[MemorySubscription]]:
        """Where a subscription to ``channel`` is kept."""
        return self.patterns if channel.endswith("*") else self.channels

    def stream(self, name: str) -> _Stream:
        state = self.streams.get(name)
        if state is None:
            state = self.streams[name] = _Stream()
        return state


_process_broker = MemoryBroker()


def process_broker() -> MemoryBroker:
    """The broker every service of this process shares."""
    return _process_broker


class MemorySubscription(Subscription):
    def __init__(
        self,
        broker: MemoryBroker,
        channel: str,
        queue_size: int,
        owner: set[MemorySubscription],
    ) -> None:
        super().__init__(channel, queue_size)
        self._broker = broker
        self._owner = owner
        self._state = "new"

    async def open(self) -> None:
        if self._state == "new":
            self._broker.subscribers(self.channel).setdefault(self.channel, set()).add(self)
            self._state = "open"

    async def close(self) -> None:
        if self._state == "open":
            kept = self._broker.subscribers(self.channel)
            subscribers = kept.get(self.channel, set())
            subscribers.discard(self)
            if not subscribers:
                kept.pop(self.channel, None)
        self._state = "closed"
        self._owner.discard(self)
        self._inbox.close()

    def deliver(self, payload: bytes) -> None:
        self._inbox.put(payload)


class MemoryBus(Bus):
    """A handle on a broker (the process-wide one unless given). Closing a handle ends only its
    own subscriptions; the streams stay for the other services of the process."""

    def __init__(
        self,
        broker: MemoryBroker | None = None,
        *,
        max_len: int | None = DEFAULT_MAX_LEN,
        redeliver_after_ms: int = DEFAULT_REDELIVER_AFTER_MS,
        subscriber_queue_size: int = DEFAULT_SUBSCRIBER_QUEUE_SIZE,
    ) -> None:
        # A private broker by default keeps tests isolated; ``create_bus`` passes the shared one.
        self._broker = broker if broker is not None else MemoryBroker()
        self._max_len = max_len
        self._redeliver_after_ms = redeliver_after_ms
        self._subscriber_queue_size = subscriber_queue_size
        self._subscriptions: set[MemorySubscription] = set()

    async def publish(self, stream: str, event: Event, *, max_len: int | None = None) -> str:
        state = self._broker.stream(stream)
        key = state.next_key()
        entry = _Entry(key=key, id=f"{key[0]}-{key[1]}", raw=event.to_json())
        state.entries.append(entry)
        state.by_id[entry.id] = entry
        limit = max_len if max_len is not None else self._max_len
        if limit is not None:
            state.trim(limit)
        state.wake()
        return entry.id

    async def ensure_group(self, stream: str, group: str, *, from_start: bool = True) -> None:
        state = self._broker.stream(stream)
        if group not in state.groups:
            state.groups[group] = _Group(last_key=(0, 0) if from_start else state.last_key)

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
        await self.ensure_group(stream, group)
        state = self._broker.stream(stream)
        idle_ms = self._redeliver_after_ms if redeliver_after_ms is None else redeliver_after_ms
        loop = asyncio.get_running_loop()
        deadline = loop.time() + min(block_ms, MAX_BLOCK_MS) / 1000
        while True:
            messages = self._take(stream, state, state.groups[group], consumer, count, idle_ms)
            remaining = deadline - loop.time()
            if messages or remaining <= 0:
                return messages
            waiter: asyncio.Future[None] = loop.create_future()
            state.waiters.append(waiter)
            try:
                await asyncio.wait_for(waiter, remaining)
            except TimeoutError:
                return []
            finally:
                if waiter in state.waiters:
                    state.waiters.remove(waiter)

    def _take(
        self,
        stream: str,
        state: _Stream,
        group: _Group,
        consumer: str,
        count: int,
        idle_ms: int,
    ) -> list[Message]:
        now = time.monotonic()
        messages: list[Message] = []
        for message_id, pending in list(group.pending.items()):
            if len(messages) >= count:
                break
            if (now - pending.delivered_at) * 1000 < idle_ms:
                continue
            entry = state.by_id.get(message_id)
            if entry is None:
                # Trimmed away while pending: nothing left to deliver (Redis does the same).
                del group.pending[message_id]
                continue
            pending.consumer, pending.delivered_at = consumer, now
            pending.count += 1
            messages.append(Message(entry.id, stream, Event.from_json(entry.raw), pending.count))
        if len(messages) < count:
            start = bisect_right(state.entries, group.last_key, key=lambda e: e.key)
            for entry in state.entries[start : start + count - len(messages)]:
                group.pending[entry.id] = _Pending(consumer=consumer, delivered_at=now, count=1)
                group.last_key = entry.key
                messages.append(Message(entry.id, stream, Event.from_json(entry.raw), 1))
        return messages

    async def ack(self, stream: str, group: str, *message_ids: str) -> int:
        state = self._broker.streams.get(stream)
        if state is None or group not in state.groups:
            return 0
        pending = state.groups[group].pending
        return sum(pending.pop(message_id, None) is not None for message_id in message_ids)

    async def publish_ephemeral(self, channel: str, payload: bytes | str) -> int:
        data = payload.encode() if isinstance(payload, str) else payload
        subscribers = list(self._broker.channels.get(channel, ()))
        for pattern, matching in self._broker.patterns.items():
            if channel.startswith(pattern[:-1]):
                subscribers += matching
        for subscriber in subscribers:
            subscriber.deliver(data)
        return len(subscribers)

    def subscribe(self, channel: str) -> MemorySubscription:
        subscription = MemorySubscription(
            self._broker, channel, self._subscriber_queue_size, self._subscriptions
        )
        self._subscriptions.add(subscription)
        return subscription

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        for subscription in list(self._subscriptions):
            await subscription.close()
        self._subscriptions.clear()
