"""The distributed backends on Redis. One Lua script reads, decides and records a request against
every bucket that applies, on the server's clock, in one atomic step: N gateway replicas enforce
one limit, no read-then-write race (Kong PR #8227), and a request one bucket denies costs nothing
in the others. Concurrency slots are leases in a sorted set that lapse on their own, so the slots
of a replica that died free themselves."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Sequence
from typing import Any

from redis.exceptions import NoScriptError

from v100.services.gateway.edge.limits._gcra import (
    Bucket,
    ConcurrencyBackend,
    Decision,
    Lease,
    RateLimiterBackend,
    evaluate,
)
from v100.services.gateway.edge.limits._resp import Arg, PipelinedRedis

__all__ = ["RedisConcurrency", "RedisRateLimiter", "Script", "connect_limiter"]

# KEYS: the buckets. ARGV[1]: now in microseconds, or '' for the server's own clock (replicas
# need no synchronized clocks; tests pass a clock of their own). Then per bucket its emission
# interval and capacity in microseconds. Every number is an integer below 2**53, exact in Lua's
# doubles, and the arithmetic is _gcra.evaluate's. Replies {allowed, now, start_1, ..., start_n}
# with start_i = max(stored TAT, now), from which the caller derives the answer. Effects (SET),
# not the script, are replicated: the default since Redis 5, required with TIME.
RATE_SCRIPT = """
local now
if ARGV[1] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
else
  now = tonumber(ARGV[1])
end
local starts = {}
local allowed = 1
for i = 1, #KEYS do
  local start = tonumber(redis.call('GET', KEYS[i])) or now
  if start < now then start = now end
  starts[i] = start
  if start + tonumber(ARGV[2 * i]) - now > tonumber(ARGV[2 * i + 1]) then allowed = 0 end
end
if allowed == 1 then
  for i = 1, #KEYS do
    local tat = starts[i] + tonumber(ARGV[2 * i])
    -- Kept until the bucket is full again: an absent bucket and a full one are the same.
    redis.call('SET', KEYS[i], string.format('%d', tat), 'PX', math.ceil((tat - now) / 1000))
  end
end
local reply = {allowed, now}
for i = 1, #KEYS do reply[i + 2] = starts[i] end
return reply
"""

# KEYS[1]: the tenant's leases (member: token, score: expiry in ms). ARGV: cap, token, lease
# length in ms, now in ms or ''. Lapsed leases (a replica that died mid-request) go first.
ENTER_SCRIPT = """
local now
if ARGV[4] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
else
  now = tonumber(ARGV[4])
end
local lease = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local held = redis.call('ZCARD', KEYS[1])
if held >= tonumber(ARGV[1]) then return {0, held} end
redis.call('ZADD', KEYS[1], now + lease, ARGV[2])
redis.call('PEXPIRE', KEYS[1], lease)
return {1, held + 1}
"""

# KEYS[1], ARGV: token, lease length in ms. Pushes a running request's lease forward; re-adds one
# that lapsed during an outage, since the request it stands for is still running.
RENEW_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
redis.call('PEXPIRE', KEYS[1], lease)
return 1
"""


def connect_limiter(url: str, timeout: float) -> PipelinedRedis:
    """The limiter's client: a Redis slower than ``timeout`` counts as down (the limiter then
    falls back to in-process limits)."""
    return PipelinedRedis(url, timeout)


class Script:
    """A Lua script run by its SHA1 (EVALSHA), sent whole (EVAL) only when the server does not
    know it: first use, a restart, a SCRIPT FLUSH. EVAL also caches it for the next EVALSHA."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()

    async def __call__(
        self, client: PipelinedRedis, keys: Sequence[str], args: Sequence[Arg]
    ) -> Any:
        try:
            return await client.execute("EVALSHA", self.sha, len(keys), *keys, *args)
        except NoScriptError:
            return await client.execute("EVAL", self.source, len(keys), *keys, *args)


_RATE = Script(RATE_SCRIPT)
_ENTER = Script(ENTER_SCRIPT)
_RENEW = Script(RENEW_SCRIPT)


class RedisRateLimiter(RateLimiterBackend):
    def __init__(self, client: PipelinedRedis) -> None:
        self._client = client

    async def acquire(self, buckets: Sequence[Bucket], *, now_us: int | None = None) -> Decision:
        args: list[Arg] = ["" if now_us is None else now_us]
        for bucket in buckets:
            args.append(bucket.rate.emission_us)
            args.append(bucket.rate.capacity_us)
        reply = await _RATE(self._client, [bucket.key for bucket in buckets], args)
        now = int(reply[1])
        starts = [int(start) for start in reply[2:]]
        decision, _ = evaluate(now, starts, buckets, allowed=int(reply[0]) == 1)
        return decision


class RedisConcurrency(ConcurrencyBackend):
    """Leases of ``lease_ms``; ``renew`` (called a few times per lease length) keeps the leases
    of this replica's running requests alive, however long they run."""

    def __init__(self, client: PipelinedRedis, lease_ms: int) -> None:
        self._client = client
        self._lease_ms = lease_ms
        self._running: dict[str, str] = {}  # token -> key, for renewal

    @property
    def running(self) -> int:
        return len(self._running)

    async def enter(self, key: str, cap: int, *, now_ms: int | None = None) -> Lease | None:
        token = uuid.uuid4().hex
        args: list[Arg] = [cap, token, self._lease_ms, "" if now_ms is None else now_ms]
        reply = await _ENTER(self._client, [key], args)
        if int(reply[0]) != 1:
            return None
        self._running[token] = key
        return Lease(key, token, self)

    async def leave(self, lease: Lease) -> None:
        self.forget(lease)
        await self._client.execute("ZREM", lease.key, lease.token)

    def forget(self, lease: Lease) -> None:
        """Stop renewing a lease without telling Redis (which cannot be reached): it lapses."""
        self._running.pop(lease.token, None)

    async def renew(self) -> None:
        """Push every running lease forward: one pipelined call each, all at once."""
        running = list(self._running.items())
        await asyncio.gather(
            *(_RENEW(self._client, [key], [token, self._lease_ms]) for token, key in running)
        )
