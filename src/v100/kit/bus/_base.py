"""The bus interface both backends implement: durable streams read by consumer groups
(at-least-once), ephemeral pub/sub, and the ``consume`` loop built on top of them."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Self

from v100.kit._redis import raise_if_cancelled
from v100.kit.bus._event import Event, Message
from v100.kit.errors import BackendUnavailable
from v100.kit.observability import get_logger

__all__ = [
    "DEFAULT_MAX_LEN",
    "DEFAULT_REDELIVER_AFTER_MS",
    "DEFAULT_SUBSCRIBER_QUEUE_SIZE",
    "MAX_BLOCK_MS",
    "Bus",
    "Handler",
    "Inbox",
    "Subscription",
]

Handler = Callable[[Message], Awaitable[None]]

# Bounds a stream's memory when consumers fall far behind; old entries beyond it are dropped.
DEFAULT_MAX_LEN = 100_000
# How long a delivered message may stay unacknowledged before another read takes it back; long
# enough for ordinary handlers, short enough that a crashed replica's work resumes soon.
DEFAULT_REDELIVER_AFTER_MS = 30_000
# A subscriber that falls this far behind loses its oldest payloads (see Inbox).
DEFAULT_SUBSCRIBER_QUEUE_SIZE = 1_000
# Keeps a blocking Redis read well inside the client's socket timeout.
MAX_BLOCK_MS = 5_000

_log = get_logger("v100.kit.bus")

# ``consume`` retries a read that failed because the backend is down with this backoff.
_RETRY_FIRST_SECONDS = 0.05
_RETRY_MAX_SECONDS = 2.0


class Inbox:
    """One subscriber's bounded queue. When it holds ``size`` payloads the oldest is dropped
    (counted in ``dropped``): a slow subscriber never slows the publisher nor grows without
    bound, and for progress and presence the newest news is the one that matters."""

    def __init__(self, size: int) -> None:
        self._items: deque[bytes] = deque(maxlen=size)
        self._waiter: asyncio.Future[None] | None = None
        self.closed = False
        self.dropped = 0

    def put(self, payload: bytes) -> None:
        if self.closed:
            return
        if len(self._items) == self._items.maxlen:
            self.dropped += 1
        self._items.append(payload)
        self._wake()

    def close(self) -> None:
        self.closed = True
        self._items.clear()
        self._wake()

    async def get(self) -> bytes | None:
        """The oldest payload, waiting for one; None once closed."""
        while not self._items:
            if self.closed:
                return None
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.popleft()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done() and not waiter.get_loop().is_closed():
            waiter.set_result(None)


class Subscription(ABC):
    """Payloads published to one channel while subscribed, in order, as bytes. Use as
    ``async with bus.subscribe(channel) as sub: async for payload in sub: ...``; the
    subscription is live once ``async with`` has entered, so nothing published after that is
    missed, except what a slow subscriber drops (see ``Inbox``) and, on Redis, what is
    published while the connection is down."""

    def __init__(self, channel: str, queue_size: int) -> None:
        self.channel = channel
        self._inbox = Inbox(queue_size)

    @property
    def dropped(self) -> int:
        """Payloads lost because this subscriber fell behind."""
        return self._inbox.dropped

    @abstractmethod
    async def open(self) -> None:
        """Start receiving; idempotent."""

    @abstractmethod
    async def close(self) -> None:
        """Stop receiving; an iteration in progress ends."""

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> bytes:
        await self.open()
        payload = await self._inbox.get()
        if payload is None:
            raise StopAsyncIteration
        return payload


class Bus(ABC):
    """Streams are named (``video``, ``meetings``); a group is one logical consumer (usually one
    service), its consumers are the replicas sharing the work. Every group gets every message;
    within a group each message goes to one consumer and comes back to some consumer until it
    is acknowledged, once it has been pending longer than ``redeliver_after_ms``."""

    @abstractmethod
    async def publish(self, stream: str, event: Event, *, max_len: int | None = None) -> str:
        """Append ``event``; returns the message id. ``max_len`` (else the bus default) trims
        the oldest entries approximately, acknowledged or not."""

    @abstractmethod
    async def ensure_group(self, stream: str, group: str, *, from_start: bool = True) -> None:
        """Create the group (and the stream) if missing. A new group starts at the oldest
        retained message (``from_start``) or only sees messages published from now on. ``read``
        creates a missing group from the start, so nothing published before a consumer's first
        read is lost; call this at startup to choose otherwise."""

    @abstractmethod
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
        """Up to ``count`` messages for ``consumer``: first those other deliveries left
        unacknowledged for ``redeliver_after_ms`` (else the bus default), then new ones.
        ``block_ms`` > 0 waits up to that long (capped at 5 s) for new messages when there are
        none; 0 answers at once. An empty list is a normal answer."""

    @abstractmethod
    async def ack(self, stream: str, group: str, *message_ids: str) -> int:
        """Mark messages done for ``group``; returns how many were pending."""

    @abstractmethod
    async def publish_ephemeral(self, channel: str, payload: bytes | str) -> int:
        """Fire-and-forget to current subscribers (progress, presence); returns how many got
        it. Nothing is kept: a subscriber that is not connected misses it."""

    @abstractmethod
    def subscribe(self, channel: str) -> Subscription:
        """A subscription to ``channel``; enter it with ``async with`` before publishing.
        ``channel`` ending in ``*`` (``meetings.live.*``) gets every channel that starts with
        what precedes it, on one subscription (one Redis connection) however many there are."""

    @abstractmethod
    async def ping(self) -> bool:
        """True when the backend answers (for ``/ready``); never raises for an outage."""

    @abstractmethod
    async def close(self) -> None:
        """Release connections and end this bus's open subscriptions."""

    async def consume(
        self,
        stream: str,
        group: str,
        consumer: str,
        handler: Handler,
        *,
        count: int = 10,
        block_ms: int = 1000,
        redeliver_after_ms: int | None = None,
    ) -> None:
        """Feed messages to ``handler`` one at a time until cancelled. A message is acknowledged
        when the handler returns; when it raises, the message stays pending and comes back
        after ``redeliver_after_ms``, so handlers must be idempotent (at-least-once). A backend
        outage is waited out with backoff. Cancel the task to stop: the message being handled,
        if any, stays unacknowledged and is redelivered."""
        backoff = _RETRY_FIRST_SECONDS
        while True:
            try:
                messages = await self.read(
                    stream,
                    group,
                    consumer,
                    count=count,
                    block_ms=block_ms,
                    redeliver_after_ms=redeliver_after_ms,
                )
                # A cancel redis-py swallowed mid-read would leave this loop running for good.
                raise_if_cancelled()
            except BackendUnavailable as exc:
                _log.warning("bus.read_failed", stream=stream, group=group, error=str(exc))
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _RETRY_MAX_SECONDS)
                continue
            backoff = _RETRY_FIRST_SECONDS
            for message in messages:
                try:
                    await handler(message)
                except Exception:
                    _log.exception(
                        "bus.handler_failed",
                        stream=stream,
                        group=group,
                        message_id=message.id,
                        event_type=message.event.type,
                        delivery_count=message.delivery_count,
                    )
                    continue
                try:
                    await self.ack(stream, group, message.id)
                except BackendUnavailable as exc:
                    # Handled but not acknowledged: it comes back, and idempotent handlers
                    # make that harmless.
                    _log.warning("bus.ack_failed", message_id=message.id, error=str(exc))
