"""The limiter's backends on their own: GCRA's exact counts, refill and Retry-After, the in-process
and Redis backends giving identical decisions for one sequence, one limit across replicas
hammering Redis at once, EVALSHA surviving a script flush, and concurrency leases that free
themselves when their replica dies."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest
import redis.asyncio as aioredis

from v100.kit.testing.bus import BACKENDS, redis_url_or_skip
from v100.services.gateway.edge.limits import (
    Bucket,
    FullBuckets,
    MemoryConcurrency,
    MemoryRateLimiter,
    Rate,
    RedisConcurrency,
    RedisRateLimiter,
)
from v100.services.gateway.edge.limits._gcra import MICROS, RateLimiterBackend
from v100.services.gateway.edge.limits._redis import connect_limiter
from v100.services.gateway.edge.limits._resp import PipelinedRedis

T0 = 1_800_000_000 * MICROS  # an epoch in microseconds near what Redis' TIME gives


@dataclass
class Backends:
    rates: RateLimiterBackend
    prefix: str
    new_rates: Callable[[], RateLimiterBackend]  # another replica on the same store


@pytest.fixture(params=BACKENDS)
async def backends(request: pytest.FixtureRequest) -> AsyncIterator[Backends]:
    if request.param == "memory":
        memory = MemoryRateLimiter()
        yield Backends(memory, "t:", lambda: memory)
        return
    prefix: str = request.getfixturevalue("redis_prefix")
    clients: list[PipelinedRedis] = []

    def replica() -> RateLimiterBackend:
        clients.append(connect_limiter(redis_url_or_skip(), timeout=2.0))
        return RedisRateLimiter(clients[-1])

    yield Backends(replica(), prefix, replica)
    for client in clients:
        await client.aclose()


def test_rate_spaces_requests_evenly_and_states_its_policy() -> None:
    rate = Rate(requests=100, window_seconds=60, burst=100, name="api-key", group="ai")
    assert rate.emission_us == 600_000
    assert rate.capacity_us == 60 * MICROS
    assert rate.policy == '100;w=60;name="api-key";group="ai"'
    # Rounded so that never more than the quota passes per window.
    assert Rate(requests=7, window_seconds=60, burst=7).emission_us == 8_571_429
    assert Rate(requests=60, window_seconds=60, burst=10).policy.startswith("10;w=10;")
    with pytest.raises(ValueError, match="positive"):
        Rate(requests=0, window_seconds=60, burst=1)


async def test_exactly_the_burst_passes_then_retry_after_is_exact(backends: Backends) -> None:
    rate = Rate(requests=5, window_seconds=60, burst=5)
    bucket = [Bucket(f"{backends.prefix}exact", rate)]
    answers = [await backends.rates.acquire(bucket, now_us=T0) for _ in range(8)]
    assert [a.allowed for a in answers] == [True] * 5 + [False] * 3
    assert [a.binding.remaining for a in answers] == [4, 3, 2, 1, 0, 0, 0, 0]
    denied = answers[-1]
    assert denied.retry_after_us == 12 * MICROS  # one emission interval: 60 s / 5
    assert denied.retry_after_seconds == 12
    assert denied.binding.reset_us == 60 * MICROS  # until the whole burst is back
    # One microsecond early is still too early; on time is admitted, and only once.
    early = await backends.rates.acquire(bucket, now_us=T0 + 12 * MICROS - 1)
    assert not early.allowed
    assert early.retry_after_us == 1
    assert (await backends.rates.acquire(bucket, now_us=T0 + 12 * MICROS)).allowed
    assert not (await backends.rates.acquire(bucket, now_us=T0 + 12 * MICROS)).allowed


async def test_a_full_bucket_refills_one_request_per_interval(backends: Backends) -> None:
    rate = Rate(requests=60, window_seconds=60, burst=3)
    bucket = [Bucket(f"{backends.prefix}refill", rate)]
    allowed = [(await backends.rates.acquire(bucket, now_us=T0)).allowed for _ in range(4)]
    assert allowed == [True, True, True, False]
    later = T0 + 10 * MICROS  # ten intervals later: full again, but never beyond the burst
    allowed = [(await backends.rates.acquire(bucket, now_us=later)).allowed for _ in range(4)]
    assert allowed == [True, True, True, False]


async def test_a_request_one_bucket_denies_costs_nothing_in_the_others(
    backends: Backends,
) -> None:
    tenant = Bucket(f"{backends.prefix}tenant", Rate(5, 60, 5, name="tenant"))
    key_a = Bucket(f"{backends.prefix}key-a", Rate(2, 60, 2, name="api-key"))
    key_b = Bucket(f"{backends.prefix}key-b", Rate(2, 60, 2, name="api-key"))
    results = [(await backends.rates.acquire([tenant, key_a], now_us=T0)) for _ in range(4)]
    assert [r.allowed for r in results] == [True, True, False, False]
    assert results[-1].binding.rate.name == "api-key"
    # The key's two refusals were not charged to the tenant: 3 of its 5 remain.
    b = [(await backends.rates.acquire([tenant, key_b], now_us=T0)) for _ in range(3)]
    assert [r.allowed for r in b] == [True, True, False]
    assert b[1].standings[0].remaining == 1


async def test_both_backends_decide_a_sequence_identically(redis_prefix: str) -> None:
    rates = [Rate(4, 10, 4, "tenant"), Rate(3, 2, 1, "api-key"), Rate(50, 60, 7, "x", "ai")]
    rng = random.Random(20261126)
    memory = MemoryRateLimiter()
    client = connect_limiter(redis_url_or_skip(), timeout=2.0)
    remote = RedisRateLimiter(client)
    try:
        now = T0
        for step in range(400):
            # Bursts, pauses shorter and longer than an interval, and bucket combinations.
            now += rng.choice([0, 0, 0, 1, 1000, 150_000, 700_000, 3 * MICROS])
            chosen = rng.sample(range(3), rng.randint(1, 3))
            buckets = [Bucket(f"{redis_prefix}{i}", rates[i]) for i in sorted(chosen)]
            here = await memory.acquire(buckets, now_us=now)
            there = await remote.acquire(buckets, now_us=now)
            assert here == there, f"step {step}"
    finally:
        await client.aclose()


async def test_replicas_hammering_one_limit_admit_exactly_it(backends: Backends) -> None:
    # Real clocks: 100 a day means one more every 864 s, far longer than this takes (at 100 a
    # minute, one more every 0.6 s: 1,000 calls on a loaded machine took longer, 102 admitted).
    bucket = [Bucket(f"{backends.prefix}shared", Rate(100, 86_400, 100))]
    replicas = [backends.new_rates() for _ in range(4)]
    answers = await asyncio.gather(*(replicas[n % 4].acquire(bucket) for n in range(1000)))
    assert sum(answer.allowed for answer in answers) == 100
    remaining = sorted((a.binding.remaining for a in answers if a.allowed), reverse=True)
    assert remaining == list(range(99, -1, -1))  # each admitted request saw its own count


async def test_the_script_is_sent_again_after_the_server_forgot_it(redis_prefix: str) -> None:
    url = redis_url_or_skip()
    client, inspect = connect_limiter(url, timeout=2.0), aioredis.Redis.from_url(url)
    limiter = RedisRateLimiter(client)
    bucket = [Bucket(f"{redis_prefix}noscript", Rate(10, 60, 10))]
    try:
        assert (await limiter.acquire(bucket)).allowed
        await inspect.script_flush()
        decision = await limiter.acquire(bucket)  # NOSCRIPT, then EVAL
        assert decision.allowed
        assert decision.binding.remaining == 8
        # Redis' own clock: the bucket lives until it is full again (2 x 6 s), then vanishes.
        ttl = await inspect.pttl(bucket[0].key)
        assert 11_000 < ttl <= 12_000
    finally:
        await client.aclose()
        await inspect.aclose()


async def test_known_full_buckets_refuse_only_what_the_limiter_would() -> None:
    """The cache of full buckets in front of Redis: driven beside the real arithmetic through
    a random sequence, it never refuses a request the limiter would admit, and it does answer
    most refusals of a caller hammering past its limit."""
    rng = random.Random(7)
    truth, full = MemoryRateLimiter(), FullBuckets()
    tenant = Bucket("t", Rate(10, 2, 4, "tenant"))
    keys = [Bucket(f"k{n}", Rate(3, 1, 2, "api-key")) for n in range(3)]
    now, refused_here = T0, 0
    for _ in range(3000):
        now += rng.choice([0, 0, 1, 50_000, 200_000, 400_000])
        buckets = [tenant, rng.choice(keys)]
        refusal = full.refuse(buckets, now)
        decision = await truth.acquire(buckets, now_us=now)
        if refusal is not None:
            refused_here += 1
            assert not decision.allowed
            assert refusal.binding.remaining == 0
            assert 0 < refusal.retry_after_us <= decision.retry_after_us
        full.note(buckets, decision, now)
    assert refused_here > 1000
    # Limits changed (another tier): what was known under the old ones no longer counts.
    full.note([keys[0]], await truth.acquire([keys[0]], now_us=now), now)
    full.note([keys[0]], await truth.acquire([keys[0]], now_us=now), now)
    assert full.refuse([keys[0]], now) is not None
    assert full.refuse([Bucket("k0", Rate(30, 1, 20, "api-key"))], now) is None


def test_the_hit_paths_admission_is_the_full_decision() -> None:
    """``admit_now`` (the hit path's) beside ``acquire_now`` through one random sequence of
    tight and loose limits: it admits exactly what the decision allows, reports the decision's
    binding limit, and leaves the buckets as the decision leaves them."""
    rng = random.Random(11)
    clock = [T0]
    decided = MemoryRateLimiter(clock=lambda: clock[0], sweep_at=50)
    admitted = MemoryRateLimiter(clock=lambda: clock[0], sweep_at=50)
    tenants = [Bucket(f"t{n}", Rate(rng.choice([4, 8]), 1, 3, "tenant")) for n in range(2)]
    keys = [Bucket(f"k{n}", Rate(rng.choice([2, 4]), 1, 2, "api-key")) for n in range(60)]
    allowed = 0
    for _ in range(5000):
        clock[0] += rng.choice([0, 0, 1, 20_000, 100_000, 300_000])
        buckets = [rng.choice(tenants), rng.choice(keys)][: rng.choice([1, 2, 2])]
        decision = decided.acquire_now(buckets)
        admission = admitted.admit_now(buckets)
        if decision.allowed:
            allowed += 1
            binding = decision.binding
            assert admission == (binding.rate, binding.remaining, binding.reset_us)
        else:
            assert admission is None
        assert len(admitted) == len(decided)
    assert 1000 < allowed < 4000


async def test_full_buckets_are_forgotten_in_process() -> None:
    clock = [T0]
    memory = MemoryRateLimiter(clock=lambda: clock[0], sweep_at=100)
    rate = Rate(10, 1, 10)
    for n in range(1000):
        await memory.acquire([Bucket(f"caller-{n}", rate)])
        clock[0] += 10_000  # 10 ms: each caller's bucket is full again 100 ms later
    assert len(memory) <= 200


async def test_memory_slots_are_capped_and_given_back() -> None:
    slots = MemoryConcurrency()
    first, second = await slots.enter("t", 2), await slots.enter("t", 2)
    assert first is not None
    assert second is not None
    assert await slots.enter("t", 2) is None
    assert await slots.enter("other-tenant", 2) is not None
    await slots.leave(first)
    await slots.leave(first)  # twice is harmless
    assert slots.held("t") == 1
    assert await slots.enter("t", 2) is not None


async def test_redis_slots_of_a_replica_that_died_free_themselves(redis_prefix: str) -> None:
    url = redis_url_or_skip()
    crashed_client, live_client = connect_limiter(url, 2.0), connect_limiter(url, 2.0)
    inspect = aioredis.Redis.from_url(url)
    crashed = RedisConcurrency(crashed_client, lease_ms=300)
    live = RedisConcurrency(live_client, lease_ms=300)
    key = f"{redis_prefix}slots"
    try:
        assert await crashed.enter(key, 2) is not None
        assert await crashed.enter(key, 2) is not None
        assert await live.enter(key, 2) is None  # the cap holds across replicas
        # The first replica "dies": nobody renews or releases its leases.
        await asyncio.sleep(0.4)
        lease = await live.enter(key, 2)
        assert lease is not None
        # A running request's lease outlives its length while its replica renews it.
        for _ in range(4):
            await asyncio.sleep(0.15)
            await live.renew()
        assert await inspect.zscore(key, lease.token) is not None
        assert live.running == 1
        await live.leave(lease)
        assert live.running == 0
        assert await inspect.zcard(key) == 0
    finally:
        await crashed_client.aclose()
        await live_client.aclose()
        await inspect.aclose()
