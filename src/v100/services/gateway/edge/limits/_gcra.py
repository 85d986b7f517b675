"""GCRA, the generic cell rate algorithm, as both limiter backends share it: the integer decision
math (``evaluate``) and the answer it gives per bucket (remaining, reset, retry), plus the
in-process backends of the embedded mode (rate buckets and concurrency slots)."""

from __future__ import annotations

import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

__all__ = [
    "MICROS",
    "Bucket",
    "ConcurrencyBackend",
    "Decision",
    "FullBuckets",
    "Lease",
    "MemoryConcurrency",
    "MemoryRateLimiter",
    "Rate",
    "RateLimiterBackend",
    "Standing",
    "evaluate",
]

MICROS = 1_000_000


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def monotonic_us() -> int:
    return time.monotonic_ns() // 1000


@dataclass(frozen=True, slots=True)
class Rate:
    """``requests`` per ``window_seconds``, up to ``burst`` of them at once: a bucket holding
    ``burst`` requests that refills one every ``emission_us``. Times are whole microseconds so
    Python and the Redis script (doubles, exact below 2**53) compute the very same numbers."""

    requests: int
    window_seconds: int
    burst: int
    name: str = "limit"  # which limit this is, e.g. "tenant" or "api-key"
    group: str = "default"  # the route group it applies to
    emission_us: int = field(init=False)
    capacity_us: int = field(init=False)
    policy: str = field(init=False)

    def __post_init__(self) -> None:
        if self.requests < 1 or self.burst < 1 or self.window_seconds < 1:
            raise ValueError(
                f"a rate needs positive numbers: {self.requests} requests per "
                f"{self.window_seconds} s, burst {self.burst}"
            )
        # Rounded up: never more than ``requests`` per window, at most a microsecond fewer.
        emission = _ceil_div(self.window_seconds * MICROS, self.requests)
        object.__setattr__(self, "emission_us", emission)
        object.__setattr__(self, "capacity_us", emission * self.burst)
        # The draft's quota policy: ``burst`` requests per the time a full bucket takes to
        # refill, which is the window itself when burst == requests (the default).
        refill = max(1, round(emission * self.burst / MICROS))
        object.__setattr__(
            self, "policy", f'{self.burst};w={refill};name="{self.name}";group="{self.group}"'
        )


@dataclass(frozen=True, slots=True)
class Bucket:
    """One limit as it applies to one caller: its storage key and its rate."""

    key: str
    rate: Rate


@dataclass(frozen=True, slots=True)
class Standing:
    """Where one bucket stands after a decision."""

    rate: Rate
    remaining: int  # requests that would be allowed right now
    reset_us: int  # until the bucket is full again
    wait_us: int = 0  # until it admits one more request (0: it does now)


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    standings: tuple[Standing, ...]
    retry_after_us: int = 0  # when denied: until every bucket admits this request

    @property
    def binding(self) -> Standing:
        """The most restrictive limit: fewest remaining, then the longest until reset."""
        return min(self.standings, key=lambda s: (s.remaining, -s.reset_us))

    @property
    def retry_after_seconds(self) -> int:
        # Rounded up: a client that waits exactly this long is admitted.
        return max(1, _ceil_div(self.retry_after_us, MICROS))


def evaluate(
    now: int, starts: Sequence[int], buckets: Sequence[Bucket], *, allowed: bool | None = None
) -> tuple[Decision, list[int]]:
    """Decide one request against every bucket at once. ``starts[i]`` is bucket i's theoretical
    arrival time (TAT) or ``now`` if that is later (or the bucket is new). The request fits a
    bucket when the bucket's TAT after it, minus now, stays within the capacity; it is allowed
    only if it fits them all, so a denied request costs nothing anywhere. Returns the decision
    and each bucket's TAT afterwards. ``allowed`` passes on a verdict already taken by the
    Redis script with this same arithmetic."""
    if allowed is None:
        allowed = all(
            start + bucket.rate.emission_us - now <= bucket.rate.capacity_us
            for start, bucket in zip(starts, buckets, strict=True)
        )
    standings: list[Standing] = []
    tats: list[int] = []
    for start, bucket in zip(starts, buckets, strict=True):
        rate = bucket.rate
        tat = start + rate.emission_us if allowed else start
        debt = tat - now
        remaining = max(0, (rate.capacity_us - debt) // rate.emission_us)
        wait = max(0, debt + rate.emission_us - rate.capacity_us)
        standings.append(Standing(rate, remaining, max(0, debt), wait))
        tats.append(tat)
    retry = 0 if allowed else max(standing.wait_us for standing in standings)
    return Decision(allowed, tuple(standings), retry), tats


class FullBuckets:
    """Buckets a Redis decision showed full, remembered until they admit a request again, so a
    caller over its limit is refused in-process instead of costing a Redis round trip each time
    (Envoy's rate limit service keeps such a cache of over-limit keys). Sound: each deadline
    counts from before the call was sent, so whatever is refused here arrived before its bucket
    could admit it; everything else is decided by Redis. Entries last at most one emission
    interval, and an entry made under other limits (a tier changed) is ignored."""

    def __init__(self, max_entries: int = 100_000) -> None:
        self._max = max_entries
        self._until: dict[str, tuple[int, int, Rate]] = {}  # key: (admits at, full at, rate)

    def __len__(self) -> int:
        return len(self._until)

    def note(self, buckets: Sequence[Bucket], decision: Decision, sent_at: int) -> None:
        for bucket, standing in zip(buckets, decision.standings, strict=True):
            if standing.wait_us > 0:
                until = (sent_at + standing.wait_us, sent_at + standing.reset_us, bucket.rate)
                self._until[bucket.key] = until
        if len(self._until) > self._max:
            for key in [key for key, (admits, _, _) in self._until.items() if admits <= sent_at]:
                del self._until[key]

    def refuse(self, buckets: Sequence[Bucket], now: int) -> Decision | None:
        """A refusal if one of ``buckets`` is known full now, else None (ask Redis)."""
        if not self._until:
            return None
        standings: list[Standing] = []
        retry = 0
        for bucket in buckets:
            entry = self._until.get(bucket.key)
            if entry is not None and entry[0] > now and entry[2] == bucket.rate:
                admits, full, _ = entry
                standings.append(Standing(bucket.rate, 0, max(0, full - now), admits - now))
                retry = max(retry, admits - now)
                continue
            if entry is not None:
                del self._until[bucket.key]
            # Not known here: shown as having room, so a known-full bucket is the binding one.
            standings.append(Standing(bucket.rate, bucket.rate.burst, 0))
        return Decision(False, tuple(standings), retry) if retry else None


class RateLimiterBackend(ABC):
    @abstractmethod
    async def acquire(self, buckets: Sequence[Bucket], *, now_us: int | None = None) -> Decision:
        """Decide one request against ``buckets`` and record it if allowed, atomically.
        ``now_us`` replaces the backend's clock (tests drive both backends with one clock)."""


class MemoryRateLimiter(RateLimiterBackend):
    """TATs in a dict. Atomic because nothing awaits between reading and writing them; bounded
    because full buckets (TAT in the past) are dropped as the dict grows."""

    def __init__(self, clock: Callable[[], int] = monotonic_us, sweep_at: int = 10_000) -> None:
        self._clock = clock
        self._tats: dict[str, int] = {}
        self._min_sweep = sweep_at
        self._sweep_at = sweep_at

    def __len__(self) -> int:
        return len(self._tats)

    async def acquire(self, buckets: Sequence[Bucket], *, now_us: int | None = None) -> Decision:
        return self.acquire_now(buckets, now_us=now_us)

    def acquire_now(self, buckets: Sequence[Bucket], *, now_us: int | None = None) -> Decision:
        now = self._clock() if now_us is None else now_us
        tats = self._tats
        starts = [max(tats.get(bucket.key, now), now) for bucket in buckets]
        decision, after = evaluate(now, starts, buckets)
        if decision.allowed:
            for bucket, tat in zip(buckets, after, strict=True):
                tats[bucket.key] = tat
            if len(tats) >= self._sweep_at:
                self._sweep(now)
        return decision

    def admit_now(self, buckets: Sequence[Bucket]) -> tuple[Rate, int, int] | None:
        """``acquire_now`` for a caller that needs only an admission (the hit path): when every
        bucket admits the request, records it and returns what ``Decision.binding`` would
        report (rate, remaining, reset in microseconds) without building the decision; else
        None, recording nothing. The arithmetic is ``evaluate``'s for an allowed request."""
        now = self._clock()
        tats = self._tats
        debts: list[int] = []
        for bucket in buckets:
            rate = bucket.rate
            tat = tats.get(bucket.key, now)
            debt = (tat if tat > now else now) + rate.emission_us - now
            if debt > rate.capacity_us:
                return None
            debts.append(debt)
        binding: tuple[Rate, int, int] | None = None
        for bucket, debt in zip(buckets, debts, strict=True):
            tats[bucket.key] = now + debt
            rate = bucket.rate
            remaining = (rate.capacity_us - debt) // rate.emission_us
            # The first of the fewest remaining, then of the longest until reset, as ``min``.
            if binding is None or (remaining, -debt) < (binding[1], -binding[2]):
                binding = (rate, remaining, debt)
        if len(tats) >= self._sweep_at:
            self._sweep(now)
        return binding

    def _sweep(self, now: int) -> None:
        # A bucket whose TAT has passed is full: the same as absent. Amortized O(1) per call.
        for key in [key for key, tat in self._tats.items() if tat <= now]:
            del self._tats[key]
        self._sweep_at = max(self._min_sweep, 2 * len(self._tats))


@dataclass(frozen=True, slots=True)
class Lease:
    """One concurrent request's slot; given back to the backend that granted it."""

    key: str
    token: str
    holder: ConcurrencyBackend


class ConcurrencyBackend(ABC):
    @abstractmethod
    async def enter(self, key: str, cap: int) -> Lease | None:
        """A slot under ``key`` if fewer than ``cap`` are held, else None."""

    @abstractmethod
    async def leave(self, lease: Lease) -> None:
        """Give the slot back (idempotent)."""


class MemoryConcurrency(ConcurrencyBackend):
    """Counters of held slots; a process that dies takes its counters with it."""

    def __init__(self) -> None:
        self._held: dict[str, set[str]] = {}

    def held(self, key: str) -> int:
        return len(self._held.get(key, ()))

    async def enter(self, key: str, cap: int) -> Lease | None:
        held = self._held.setdefault(key, set())
        if len(held) >= cap:
            return None
        lease = Lease(key, uuid.uuid4().hex, self)
        held.add(lease.token)
        return lease

    async def leave(self, lease: Lease) -> None:
        held = self._held.get(lease.key)
        if held is None:
            return
        held.discard(lease.token)
        if not held:
            del self._held[lease.key]
