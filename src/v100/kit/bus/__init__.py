"""The message bus: durable event streams with consumer groups (at-least-once) and ephemeral
pub/sub, in-process for the embedded mode and on Redis for the distributed one.

    bus = create_bus(settings.redis_url)
    await bus.publish("video", Event(type="video.upload.completed", source="video_processing",
                                     tenant_id=tenant_id, data={"video_id": video_id}))
    await bus.consume("video", "video_analysis", replica_id, handle_event)   # until cancelled

Failures of the Redis backend surface as ``v100.kit.errors.BackendUnavailable``.
"""

from __future__ import annotations

from v100.kit.bus._base import (
    DEFAULT_MAX_LEN,
    DEFAULT_REDELIVER_AFTER_MS,
    DEFAULT_SUBSCRIBER_QUEUE_SIZE,
    MAX_BLOCK_MS,
    Bus,
    Handler,
    Inbox,
    Subscription,
)
from v100.kit.bus._event import Event, Message
from v100.kit.bus._memory import MemoryBroker, MemoryBus, MemorySubscription, process_broker
from v100.kit.bus._redis import RedisBus, RedisSubscription
from v100.kit.errors import BackendUnavailable

__all__ = [
    "DEFAULT_MAX_LEN",
    "DEFAULT_REDELIVER_AFTER_MS",
    "DEFAULT_SUBSCRIBER_QUEUE_SIZE",
    "MAX_BLOCK_MS",
    "BackendUnavailable",
    "Bus",
    "Event",
    "Handler",
    "Inbox",
    "MemoryBroker",
    "MemoryBus",
    "MemorySubscription",
    "Message",
    "RedisBus",
    "RedisSubscription",
    "Subscription",
    "create_bus",
    "process_broker",
]


def create_bus(
    redis_url: str | None,
    *,
    prefix: str = "v100:",
    max_len: int | None = DEFAULT_MAX_LEN,
    redeliver_after_ms: int = DEFAULT_REDELIVER_AFTER_MS,
) -> Bus:
    """The bus for this deployment. Without a Redis URL every bus made in the process shares one
    in-process broker, so the services of ``v100 up`` see each other's events."""
    if redis_url is None:
        return MemoryBus(process_broker(), max_len=max_len, redeliver_after_ms=redeliver_after_ms)
    return RedisBus(
        redis_url, prefix=prefix, max_len=max_len, redeliver_after_ms=redeliver_after_ms
    )
