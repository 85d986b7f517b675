"""Explicit invalidation: services publish ``cache.invalidate`` on the durable ``cache`` stream
(``v100.contracts.events``); one gateway replica takes each event (a consumer group shared by the
replicas, so an event published while no gateway runs still applies), bumps the Redis
generations of the named path levels (every replica's shared tier forgets at once, in O(levels)),
then fans the event out over pub/sub so every replica drops its in-process entries."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Callable

import orjson
from pydantic import ValidationError

from v100.contracts.events import CACHE_INVALIDATE, CACHE_STREAM, CacheInvalidation
from v100.kit.bus import Bus, Handler, Message
from v100.kit.errors import BackendUnavailable
from v100.kit.observability import get_logger
from v100.services.gateway.edge.cache._cache import ResponseCache
from v100.services.gateway.edge.cache._entry import node_of

__all__ = ["Invalidations"]

_log = get_logger("v100.gateway.response_cache")
_RETRY_FIRST_SECONDS = 0.05
_RETRY_MAX_SECONDS = 2.0


class Invalidations:
    def __init__(self, cache: ResponseCache, on_applied: Callable[[], None]) -> None:
        self.cache = cache
        self._on_applied = on_applied
        # Named after the Redis prefix: gateways sharing entries share the group and hear the
        # same fan-out; another deployment (or test) on the same Redis keeps its own.
        name = f"gateway.response_cache:{cache.config.redis_prefix}"
        self.group = name
        self.channel = name
        self.consumer = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.listening = asyncio.Event()
        self._prepared = False

    async def prepare(self, bus: Bus) -> None:
        """Make sure the group exists, so events published from now on are taken. A new group
        starts at new events: a deployment that had no group had no entries either."""
        await bus.ensure_group(CACHE_STREAM, self.group, from_start=False)
        self._prepared = True

    async def consume(self, bus: Bus) -> None:
        """Take events from the stream until cancelled (a background task)."""
        delay = _RETRY_FIRST_SECONDS
        while not self._prepared:
            try:
                await self.prepare(bus)
            except BackendUnavailable:
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RETRY_MAX_SECONDS)
        await bus.consume(CACHE_STREAM, self.group, self.consumer, self._take_from(bus))

    def _take_from(self, bus: Bus) -> Handler:
        async def handle(message: Message) -> None:
            event = message.event
            if event.type != CACHE_INVALIDATE:
                return
            try:
                payload = CacheInvalidation.model_validate(event.data)
            except ValidationError as exc:
                _log.error("bad cache.invalidate dropped", event_id=event.id, error=str(exc))
                return
            failure: Exception | None = None
            l2 = self.cache.l2
            if l2 is not None:
                try:
                    await l2.bump(event.tenant_id, sorted({node_of(p) for p in payload.prefixes}))
                except Exception as exc:
                    failure = exc
            # Memory is dropped even when Redis could not be bumped: the shared tier is not
            # in use while Redis is away, and memory is what still serves.
            fanout = {"tenant_id": event.tenant_id, "prefixes": list(payload.prefixes)}
            await bus.publish_ephemeral(self.channel, orjson.dumps(fanout))
            if failure is not None:
                # Left pending: the bus hands the event out again, and the bump is retried.
                raise failure

        return handle

    async def listen(self, bus: Bus) -> None:
        """Apply fanned-out invalidations to this replica's memory until cancelled."""
        delay = _RETRY_FIRST_SECONDS
        while True:
            try:
                async with bus.subscribe(self.channel) as subscription:
                    self.listening.set()
                    delay = _RETRY_FIRST_SECONDS
                    async for payload in subscription:
                        self._apply(payload)
            except BackendUnavailable as exc:
                _log.warning("cache invalidation subscription failed", error=str(exc))
            # Also reached when the subscription ended (closed by a failure): subscribe again.
            await asyncio.sleep(delay)
            delay = min(delay * 2, _RETRY_MAX_SECONDS)

    def _apply(self, payload: bytes) -> None:
        try:
            fanout = orjson.loads(payload)
            tenant_id = fanout["tenant_id"]
            prefixes = CacheInvalidation(prefixes=tuple(fanout["prefixes"])).prefixes
        except (ValueError, KeyError, TypeError, ValidationError):
            _log.error("unreadable cache invalidation fan-out dropped")
            return
        self.cache.forget(tenant_id, prefixes)
        self._on_applied()
