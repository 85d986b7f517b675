"""The Redis client the bus and the cache share: how it is built (timeouts, quick retries) and
how its connection failures become the kit's one ``BackendUnavailable`` error."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from v100.kit.errors import BackendUnavailable

__all__ = [
    "CONNECTION_ERRORS",
    "SOCKET_TIMEOUT_SECONDS",
    "connect",
    "raise_if_cancelled",
    "unavailable",
]

# Blocking stream reads must finish inside this, so the bus caps its ``block_ms`` below it.
SOCKET_TIMEOUT_SECONDS = 10.0

# What a dead, restarting or unreachable server looks like from redis-py. ``BusyLoadingError``
# (a server still loading) is a ``ConnectionError`` too.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    RedisConnectionError,
    RedisTimeoutError,
    OSError,
)


def connect(url: str, *, pool_size: int | None = None) -> aioredis.Redis:
    """A pooled client. Pooled connections left broken by a restarted server fail once and are
    replaced by the retry; a server that stays down fails fast (about 0.1 s) instead of stalling
    the caller through redis-py's default multi-second backoff. ``pool_size``: at most that many
    connections, a caller past it waiting for one to come back (redis-py's default pool holds
    100 and fails the 101st concurrent command with "Too many connections")."""
    options: dict[str, Any] = {
        "decode_responses": False,
        # redis-py 8 defaults to RESP3; the bus parses the RESP2 reply shapes, pinned here.
        "protocol": 2,
        "socket_timeout": SOCKET_TIMEOUT_SECONDS,
        "socket_connect_timeout": 2.0,
        "retry": Retry(ExponentialBackoff(cap=0.1, base=0.02), retries=2),
    }
    if pool_size is None:
        return aioredis.Redis.from_url(url, **options)
    pool = aioredis.BlockingConnectionPool.from_url(
        url, max_connections=pool_size, timeout=SOCKET_TIMEOUT_SECONDS, **options
    )
    return aioredis.Redis(connection_pool=pool)


@asynccontextmanager
async def unavailable(what: str) -> AsyncIterator[None]:
    """Re-raise connection failures as ``BackendUnavailable`` (503 at the edge, retried by
    callers that loop); answers Redis did give (wrong type, bad arguments) pass through."""
    try:
        yield
    except CONNECTION_ERRORS as exc:
        raise BackendUnavailable(f"{what}: redis is unreachable ({exc})", retry_after=1) from exc


def raise_if_cancelled() -> None:
    """Raise ``CancelledError`` if the current task has been asked to stop.

    Called after each Redis command: on Python 3.11 redis-py sends through ``asyncio.wait_for``
    (its ``socket_timeout``), which returns normally when a cancellation arrives just after the
    write completed (CPython gh-86296, fixed in 3.12). The request is still counted by
    ``Task.cancelling()``, so it can be honoured here instead of being lost.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
