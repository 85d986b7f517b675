"""The limiter's own Redis client: RESP2 replies parsed whatever way the bytes arrive, concurrent
calls pipelined on one connection and answered in order, Redis' errors raised as redis-py's
types, a silent server timed out (and a busy one not), AUTH and SELECT from the URL."""

from __future__ import annotations

import asyncio
import shutil
import socket
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
import uvloop
from redis.exceptions import NoScriptError, ResponseError

from v100.kit.testing.bus import redis_url_or_skip
from v100.services.gateway.edge.limits._resp import PipelinedRedis, _Connection, encode


def test_commands_are_encoded_as_resp_arrays_of_bulk_strings() -> None:
    assert encode(["SET", b"k\r\n", 42]) == b"*3\r\n$3\r\nSET\r\n$3\r\nk\r\n\r\n$2\r\n42\r\n"


class _Sink(asyncio.Transport):
    """A transport that swallows what the client writes: replies are fed by hand."""

    def write(self, data: bytes | bytearray | memoryview) -> None:
        pass


async def test_replies_are_parsed_however_the_bytes_arrive() -> None:
    replies = (
        b":-12\r\n"
        b"$5\r\na\r\nbc\r\n"  # a bulk string holding CRLF
        b"$-1\r\n"
        b"*3\r\n:1\r\n*2\r\n+OK\r\n$0\r\n\r\n*-1\r\n"
        b"-NOSCRIPT No matching script\r\n"
        b"*0\r\n"
    )
    for chunk in (1, 2, 7, len(replies)):
        conn = _Connection()
        conn.connection_made(_Sink())
        waiters = [conn.send(["X"]) for _ in range(6)]
        for start in range(0, len(replies), chunk):
            conn.data_received(replies[start : start + chunk])
        values = [waiter.result() for waiter in waiters]
        assert values[:4] == [-12, b"a\r\nbc", None, [1, [b"OK", b""], None]], chunk
        error = values[4].exception()
        assert isinstance(error, NoScriptError)
        assert str(error) == "NOSCRIPT No matching script"
        assert values[5] == []


@pytest.fixture
async def client() -> AsyncIterator[PipelinedRedis]:
    redis = PipelinedRedis(redis_url_or_skip(), timeout=2.0)
    yield redis
    await redis.aclose()


async def test_concurrent_calls_share_one_connection_in_order(
    client: PipelinedRedis, redis_prefix: str
) -> None:
    key = f"{redis_prefix}counter"
    answers = await asyncio.gather(*(client.execute("INCR", key) for _ in range(2000)))
    assert answers == list(range(1, 2001))  # sent in this order, answered in this order
    assert await client.execute("GET", key) == b"2000"
    assert await client.ping()


async def test_redis_errors_are_raised_and_the_connection_goes_on(
    client: PipelinedRedis, redis_prefix: str
) -> None:
    key = f"{redis_prefix}text"
    await client.execute("SET", key, "not a number")
    with pytest.raises(ResponseError, match="not an integer"):
        await client.execute("INCR", key)
    with pytest.raises(NoScriptError):
        await client.execute("EVALSHA", "0" * 40, 0)
    assert await client.execute("GET", key) == b"not a number"


def test_the_client_runs_on_uvloop_as_the_gateway_does() -> None:
    # ``v100 serve`` runs on uvloop, whose transports are not asyncio's classes.
    url = redis_url_or_skip()

    async def calls() -> list[object]:
        redis = PipelinedRedis(url, timeout=2.0)
        try:
            return list(await asyncio.gather(redis.ping(), redis.execute("ECHO", "uv")))
        finally:
            await redis.aclose()

    assert uvloop.run(calls()) == [True, b"uv"]


@pytest.fixture
async def silent_server() -> AsyncIterator[tuple[int, list[asyncio.StreamWriter]]]:
    """Accepts connections and never answers (a server stopped in a debugger, a black hole)."""
    accepted: list[asyncio.StreamWriter] = []

    async def accept(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1], accepted
    finally:
        for writer in accepted:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_a_silent_server_times_out_and_the_next_call_reconnects(
    silent_server: tuple[int, list[asyncio.StreamWriter]],
) -> None:
    port, accepted = silent_server
    redis = PipelinedRedis(f"redis://127.0.0.1:{port}/0", timeout=0.2)
    try:
        started = asyncio.get_running_loop().time()
        results = await asyncio.gather(
            *(redis.execute("PING") for _ in range(5)), return_exceptions=True
        )
        elapsed = asyncio.get_running_loop().time() - started
        assert all(isinstance(result, TimeoutError) for result in results), results
        assert 0.15 < elapsed < 1.0
        with pytest.raises(TimeoutError):
            await redis.execute("PING")
        assert len(accepted) == 2  # the dropped connection was replaced, once
    finally:
        await redis.aclose()


async def test_a_busy_connection_is_not_mistaken_for_a_dead_one(
    client: PipelinedRedis, redis_prefix: str
) -> None:
    busy = PipelinedRedis(redis_url_or_skip(), timeout=0.25)
    key = f"{redis_prefix}busy"
    try:
        # Far more work than fits in 250 ms, queued at once: answers keep coming, nothing is cut.
        # (50 ms was within the scheduling pauses of a loaded machine: a real silence.)
        started = asyncio.get_running_loop().time()
        answers = await asyncio.gather(*(busy.execute("INCR", key) for _ in range(20_000)))
        assert answers[-1] == 20_000
        assert asyncio.get_running_loop().time() - started > 0.25  # longer than the timeout
    finally:
        await busy.aclose()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def test_password_and_database_come_from_the_url(tmp_path: Path) -> None:
    redis_url_or_skip()
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    port = _free_port()
    server = await asyncio.create_subprocess_exec(
        binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
        "--dir", str(tmp_path), "--requirepass", "s3cret pass",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    admin = aioredis.Redis(port=port, password="s3cret pass", db=3)
    try:
        for _ in range(100):
            try:
                await admin.ping()
                break
            except Exception:
                await asyncio.sleep(0.05)
        key = uuid.uuid4().hex
        good = PipelinedRedis(f"redis://:s3cret%20pass@127.0.0.1:{port}/3", timeout=2.0)
        await good.execute("SET", key, "in db 3")
        assert await admin.get(key) == b"in db 3"
        await good.aclose()
        wrong = PipelinedRedis(f"redis://:nope@127.0.0.1:{port}/3", timeout=2.0)
        with pytest.raises(ConnectionError, match="refused the connection"):
            await wrong.execute("PING")
        await wrong.aclose()
    finally:
        await admin.aclose()
        server.kill()
        await server.wait()
