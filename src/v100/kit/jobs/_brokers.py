"""The taskiq brokers a job queue sends through: ``InMemoryBroker`` embedded (a job runs as a
task on this event loop as soon as it is sent) and, distributed, taskiq-redis's stream broker on
one stream per service, made tolerant of lost acks and able to tell whether anything is in
flight."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable

from redis.asyncio import Redis
from redis.exceptions import ResponseError
from taskiq import AckableMessage, AsyncBroker, InMemoryBroker
from taskiq_redis import RedisStreamBroker

from v100.kit.observability import get_logger

__all__ = ["CONSUMER_GROUP", "STREAM_MAX_LEN", "JobStreamBroker", "create_broker"]

_log = get_logger("v100.kit.jobs")

CONSUMER_GROUP = "workers"
# Acked entries stay in a stream until trimmed; the job rows, not the stream, are the record,
# and a job whose entry was trimmed unread is re-sent by the sweeper.
STREAM_MAX_LEN = 100_000


def create_broker(
    redis_url: str | None, *, stream: str, concurrency: int, redeliver_after: float
) -> AsyncBroker:
    if redis_url is None:
        return InMemoryBroker(max_async_tasks=concurrency, propagate_exceptions=False)
    return JobStreamBroker(
        redis_url,
        queue_name=stream,
        consumer_group_name=CONSUMER_GROUP,
        consumer_name=f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}",
        # "0", not "$": a group created after the first jobs were sent still gets them.
        consumer_id="0",
        maxlen=STREAM_MAX_LEN,
        xread_block=1000,
        # A message unacked this long (its worker died) is handed to another worker; the job
        # row decides whether there is anything left to run.
        idle_timeout=int(redeliver_after * 1000),
        unacknowledged_lock_timeout=30,
    )


class JobStreamBroker(RedisStreamBroker):
    """taskiq-redis's stream broker whose acks cannot fail the receiver's callback: an ack lost
    to a Redis outage leaves the message pending, to be delivered again, and the job row (not
    the message) says whether anything is left to run. Raised, it would surface as a task
    exception nobody retrieves."""

    async def listen(self) -> AsyncGenerator[AckableMessage, None]:
        messages = super().listen()
        try:
            async for message in messages:
                yield AckableMessage(data=message.data, ack=_tolerant(message.ack))
        finally:
            await messages.aclose()

    async def nothing_in_flight(self) -> bool:
        """True when no message is waiting or being worked on: the stream is gone (Redis came
        back empty) or the group has no undelivered (lag) and no unacked (pending) entries."""
        async with Redis(connection_pool=self.connection_pool) as redis:
            try:
                groups = await redis.xinfo_groups(self.queue_name)
            except ResponseError:
                return True  # no stream: nothing was sent since the server started
        for group in groups:
            if group.get("name") in (CONSUMER_GROUP, CONSUMER_GROUP.encode()):
                # Redis reports lag None when it cannot tell (after trimming): "maybe".
                return group.get("lag") == 0 and group.get("pending") == 0
        return False

    async def ping(self) -> None:
        async with Redis(connection_pool=self.connection_pool) as redis:
            await redis.ping()


def _tolerant(ack: Callable[[], Awaitable[None] | None]) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        try:
            result = ack()
            if result is not None:
                await result
        except Exception as exc:
            _log.warning("job message not acked; it will be delivered again", error=repr(exc))

    return run
