"""The taskiq brokers a job queue sends through: ``InMemoryBroker`` embedded (a job runs as a
task on this event loop as soon as it is sent) and, distributed, taskiq-redis's stream broker on
one stream per service, made tolerant of lost acks, sure to honour a cancellation, and able to
tell whether anything is in flight."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator
from typing import cast

from redis.asyncio import Redis
from redis.exceptions import ResponseError
from taskiq import AckableMessage, AsyncBroker, BrokerMessage, InMemoryBroker
from taskiq_redis import RedisStreamBroker

from v100.kit._redis import raise_if_cancelled
from v100.kit.observability import get_logger

__all__ = ["CONSUMER_GROUP", "STREAM_MAX_LEN", "JobStreamBroker", "create_broker"]

_log = get_logger("v100.kit.jobs")

CONSUMER_GROUP = "workers"
# Acked entries stay in a stream until trimmed; the job rows, not the stream, are the record,
# and a job whose entry was trimmed unread is re-sent by the sweeper.
STREAM_MAX_LEN = 100_000

# A stream entry as redis-py returns it: (id, fields).
Entry = tuple[bytes, dict[bytes, bytes] | None]


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
    )


class JobStreamBroker(RedisStreamBroker):
    """taskiq-redis's stream broker, with three changes:

    - its acks cannot fail the receiver's callback: an ack lost to a Redis outage leaves the
      message pending, to be delivered again, and the job row (not the message) says whether
      anything is left to run. Raised, it would surface as a task exception nobody retrieves;
    - every Redis command re-raises a cancellation redis-py swallowed (``raise_if_cancelled``),
      so a stopping worker, sweep or send stops instead of carrying on;
    - it can tell whether anything is in flight.
    """

    async def startup(self) -> None:
        await super().startup()
        raise_if_cancelled()

    async def kick(self, message: BrokerMessage) -> None:
        await super().kick(message)
        raise_if_cancelled()

    async def listen(self) -> AsyncGenerator[AckableMessage, None]:
        """taskiq-redis's loop: new entries for this consumer, then (after a read that found
        some) entries another consumer has left unacked for ``idle_timeout``. Written out here
        because taskiq-redis's own loop goes on reading after a swallowed cancellation, and a
        stopping worker would then wait for the next message to arrive."""
        async with Redis(connection_pool=self.connection_pool) as redis:
            while True:
                fetched = await redis.xreadgroup(
                    self.consumer_group_name,
                    self.consumer_name,
                    {self.queue_name: ">"},
                    block=self.block,
                    noack=False,
                    count=self.count,
                )
                raise_if_cancelled()
                if not fetched:
                    continue
                for _stream, entries in cast(list[tuple[bytes, list[Entry]]], fetched):
                    for message in self._messages(entries):
                        yield message
                claimed = await redis.xautoclaim(
                    self.queue_name,
                    self.consumer_group_name,
                    self.consumer_name,
                    min_idle_time=self.idle_timeout,
                    count=self.unacknowledged_batch_size,
                )
                raise_if_cancelled()
                for message in self._messages(claimed[1]):
                    yield message

    def _messages(self, entries: list[Entry]) -> Iterator[AckableMessage]:
        for entry_id, fields in entries:
            if fields is not None:  # None: the entry was trimmed while pending
                yield AckableMessage(data=fields[b"data"], ack=self._ack(entry_id))

    def _ack(self, entry_id: bytes) -> Callable[[], Awaitable[None]]:
        async def ack() -> None:
            try:
                async with Redis(connection_pool=self.connection_pool) as redis:
                    await redis.xack(self.queue_name, self.consumer_group_name, entry_id)
            except Exception as exc:
                _log.warning("job message not acked; it will be delivered again", error=repr(exc))
            raise_if_cancelled()

        return ack

    async def nothing_in_flight(self) -> bool:
        """True when no message is waiting or being worked on: the stream is gone (Redis came
        back empty) or the group has no undelivered (lag) and no unacked (pending) entries."""
        async with Redis(connection_pool=self.connection_pool) as redis:
            try:
                groups = await redis.xinfo_groups(self.queue_name)
            except ResponseError:
                groups = None  # no stream: nothing was sent since the server started
        raise_if_cancelled()
        if groups is None:
            return True
        for group in groups:
            if group.get("name") in (CONSUMER_GROUP, CONSUMER_GROUP.encode()):
                # Redis reports lag None when it cannot tell (after trimming): "maybe".
                return group.get("lag") == 0 and group.get("pending") == 0
        return False

    async def ping(self) -> None:
        async with Redis(connection_pool=self.connection_pool) as redis:
            await redis.ping()
        raise_if_cancelled()
