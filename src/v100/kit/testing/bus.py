"""Fixtures for the bus and the cache: ``bus`` and ``cache`` run each test on the in-process
backend and, when ``V100_TEST_REDIS_URL`` is set, on real Redis under a key prefix of the test's
own (deleted afterwards; ``module_redis_prefix``: one for a module's tests sharing an app);
``redis_server`` is a private Redis a test may stop and restart; ``published`` reads back what
a service has published on a stream; ``private_redis`` is one for a deployment whose streams
must be its own."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import redis
from redis.exceptions import RedisError

from v100.kit._redis import connect
from v100.kit.bus import Bus, Event, MemoryBus, RedisBus
from v100.kit.cache import Cache, MemoryCache, RedisCache
from v100.kit.testing.net import free_port

__all__ = [
    "BACKENDS",
    "RedisServer",
    "bus",
    "cache",
    "module_redis_prefix",
    "private_redis",
    "published",
    "redis_prefix",
    "redis_server",
    "redis_url_or_skip",
]

REDIS_URL_ENV = "V100_TEST_REDIS_URL"
BACKENDS = ["memory", "redis"]


def redis_url_or_skip() -> str:
    url = os.environ.get(REDIS_URL_ENV)
    if not url:
        pytest.skip(f"{REDIS_URL_ENV} is not set (scripts/services/redis.sh start)")
    return url


def _redis_prefix() -> Iterator[str]:
    url = redis_url_or_skip()
    prefix = f"v100test:{uuid.uuid4().hex[:12]}:"
    yield prefix
    # Synchronous on purpose: the async backend fixtures ask for this one by name, from inside
    # their own event loop.
    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=500))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix no other test uses (tests may share the server with other suites, so the
    database is never flushed); its keys are deleted afterwards."""
    yield from _redis_prefix()


@pytest.fixture(scope="module")
def module_redis_prefix() -> Iterator[str]:
    """``redis_prefix`` for a module whose tests share one app: its keys are deleted after the
    module's last test."""
    yield from _redis_prefix()


@pytest.fixture(params=BACKENDS)
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[Bus]:
    if request.param == "memory":
        memory = MemoryBus()  # a private broker: tests do not see each other's streams
        yield memory
        await memory.close()
        return
    prefix: str = request.getfixturevalue("redis_prefix")
    remote = RedisBus(redis_url_or_skip(), prefix=prefix)
    yield remote
    await remote.close()


@pytest.fixture(params=BACKENDS)
async def cache(request: pytest.FixtureRequest) -> AsyncIterator[Cache]:
    if request.param == "memory":
        memory = MemoryCache()
        yield memory
        await memory.close()
        return
    prefix: str = request.getfixturevalue("redis_prefix")
    remote = RedisCache(redis_url_or_skip(), prefix=prefix)
    yield remote
    await remote.close()


async def published(
    bus: Bus, stream: str, where: Callable[[Event], bool] = lambda event: True
) -> list[Event]:
    """The events on ``stream`` so far that ``where`` accepts, in order: read by a consumer
    group of this call's own, which starts from the beginning of the stream."""
    group = f"test-{uuid.uuid4().hex}"
    found: list[Event] = []
    while messages := await bus.read(stream, group, "c", count=500):
        found += [message.event for message in messages if where(message.event)]
        await bus.ack(stream, group, *(message.id for message in messages))
    return found


class RedisServer:
    """A ``redis-server`` of one test's own on a free loopback port, in the foreground so the
    test can kill it and bring it back on the same port, as an operator's restart would."""

    def __init__(self, binary: str, directory: Path) -> None:
        self._binary = binary
        self._directory = directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self._process = await asyncio.create_subprocess_exec(
            self._binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self._directory),
            "--logfile", str(self._directory / "redis.log"),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        client = connect(self.url)
        try:
            for _ in range(100):
                try:
                    if await client.ping():
                        return
                except (RedisError, OSError):
                    await asyncio.sleep(0.05)
            raise RuntimeError(f"redis-server did not answer on port {self.port}")
        finally:
            await client.aclose()

    async def stop(self) -> None:
        if self._process is None:
            return
        self._process.kill()  # abrupt on purpose: clients see a dead server, not a goodbye
        await asyncio.wait_for(self._process.wait(), 10)
        self._process = None


@asynccontextmanager
async def private_redis(directory: Path) -> AsyncIterator[RedisServer]:
    """A started ``RedisServer`` of the caller's own (its files in ``directory``), killed at the
    end: streams, consumer groups and keys no other test, and no other suite run on the same
    machine, can touch (the shared server is shared by all of them)."""
    redis_url_or_skip()  # real-server tests run where the real server is provided
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (scripts/services/redis.sh start)")
    await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
    server = RedisServer(binary, directory)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def redis_server(tmp_path: Path) -> AsyncIterator[RedisServer]:
    async with private_redis(tmp_path) as server:
        yield server
