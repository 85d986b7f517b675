"""The two tiers behind one lookup and one store, the in-process single flight, and the bookkeeping
that keeps an invalidation from being undone by a fetch that was already under way."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from v100.services.gateway.edge.cache._entry import CachedResponse, RequestKey, path_nodes
from v100.services.gateway.edge.cache._l1 import MemoryTier
from v100.services.gateway.edge.cache._l2 import RedisTier

__all__ = ["CacheConfig", "Flight", "Found", "ResponseCache", "vary_values"]

_INDEX_SIZE = 128
_MARK_SIZE = 64
_NOT_CACHEABLE_MARK = "not-cacheable"
_MAX_TRACKED_TENANTS = 100_000


@dataclass(frozen=True, slots=True)
class CacheConfig:
    l1_max_bytes: int
    max_body_bytes: int
    max_ttl_seconds: float
    lock_seconds: float
    wait_seconds: float
    hit_for_miss_seconds: float
    redis_url: str | None
    redis_prefix: str
    redis_timeout_seconds: float
    redis_probe_seconds: float


def vary_values(
    names: Sequence[str], headers: Sequence[tuple[bytes, bytes]]
) -> tuple[str | None, ...]:
    """The request's values of the headers an answer varies on (None when absent; repeated
    headers joined as one list, as RFC 9110 section 5.3 allows)."""
    if not names:
        return ()
    wanted = {name.encode("latin-1"): index for index, name in enumerate(names)}
    found: list[list[str] | None] = [None] * len(names)
    for name, value in headers:
        index = wanted.get(name)
        if index is not None:
            seen = found[index]
            text = value.decode("latin-1").strip()
            if seen is None:
                found[index] = [text]
            else:
                seen.append(text)
    return tuple(", ".join(values) if values is not None else None for values in found)


@dataclass(slots=True)
class Found:
    """The outcome of a lookup in both tiers."""

    entry: CachedResponse | None = None
    stale: bool = False  # an entry was there, but expired or invalidated
    vary: tuple[str, ...] | None = None  # the URL's Vary names, when some tier knows them
    # The path levels' generations read from Redis; None when Redis was not (or could not be)
    # asked, and then nothing is written there.
    generations: tuple[int, ...] | None = None
    not_cacheable: bool = False  # recently found not cacheable: go straight to the upstream


class Flight:
    """One in-process fetch that identical concurrent misses wait for."""

    __slots__ = ("future",)

    def __init__(self) -> None:
        self.future: asyncio.Future[CachedResponse | None] = (
            asyncio.get_running_loop().create_future()
        )

    def resolve(self, entry: CachedResponse | None) -> None:
        if not self.future.done():
            self.future.set_result(entry)

    async def wait(self, seconds: float) -> CachedResponse | None:
        try:
            return await asyncio.wait_for(asyncio.shield(self.future), seconds)
        except TimeoutError:
            return None


class ResponseCache:
    def __init__(self, config: CacheConfig) -> None:
        self.config = config
        self.l1 = MemoryTier(config.l1_max_bytes)
        self.l2: RedisTier | None = None
        self.flights: dict[Hashable, Flight] = {}
        # Bumped by every invalidation this replica applies (per tenant, or all at once): an
        # answer fetched while one of them moved is not kept in memory, since the
        # invalidation may have arrived between its fetch and its store.
        self._epoch = 0
        self._tenant_epochs: dict[str, int] = {}

    def new_redis_tier(self) -> RedisTier | None:
        config = self.config
        if config.redis_url is None:
            return None
        return RedisTier(
            config.redis_url,
            config.redis_prefix,
            timeout=config.redis_timeout_seconds,
            probe_seconds=config.redis_probe_seconds,
            # Longer than any entry (plus a fetch) can live, see RedisTier.bump.
            generation_ttl_seconds=2 * config.max_ttl_seconds + 3600,
            on_recover=self.forget_all,
        )

    # --- invalidation bookkeeping --------------------------------------------------------

    def epoch(self, tenant: str) -> tuple[int, int]:
        return self._epoch, self._tenant_epochs.get(tenant, 0)

    def forget(self, tenant: str | None, prefixes: Sequence[str]) -> int:
        """Drop this replica's in-process entries under ``prefixes``."""
        if tenant is None or len(self._tenant_epochs) >= _MAX_TRACKED_TENANTS:
            self._epoch += 1
            self._tenant_epochs.clear()
        else:
            self._tenant_epochs[tenant] = self._tenant_epochs.get(tenant, 0) + 1
        return self.l1.drop_prefixes(tenant, prefixes)

    def forget_all(self) -> None:
        """After Redis was away, invalidations may have been missed: start the memory over."""
        self._epoch += 1
        self._tenant_epochs.clear()
        self.l1.clear()

    # --- lookup --------------------------------------------------------------------------

    async def lookup(self, key: RequestKey, headers: Sequence[tuple[bytes, bytes]]) -> Found:
        found = self.lookup_memory(key, headers)
        if found.entry is None and not found.not_cacheable:
            await self.lookup_shared(key, headers, found)
        return found

    def lookup_memory(self, key: RequestKey, headers: Sequence[tuple[bytes, bytes]]) -> Found:
        """L1 only: what ``lookup`` finds without asking Redis (a fresh entry here is served
        as is; invalidations reach this memory through bus events)."""
        found = Found()
        parts = key.parts
        l1 = self.l1
        mark, _ = l1.get(("p", parts))
        if mark is not None:
            found.not_cacheable = True
            return found
        index, expired = l1.get(("i", parts))
        found.stale = expired
        if isinstance(index, tuple):
            found.vary = index
            entry, expired = l1.get(("e", parts, vary_values(index, headers)))
            if isinstance(entry, CachedResponse):
                if entry.remaining(time.time()) > 0:
                    found.entry = entry
                    return found
                expired = True
            found.stale = found.stale or expired
        return found

    def fresh_in_memory(
        self, key: RequestKey, headers: Sequence[tuple[bytes, bytes]], *, unmarked: bool = False
    ) -> CachedResponse | None:
        """The entry ``lookup_memory`` would find, if it would find one, changing nothing else:
        expired slots stay in place for a later lookup to report them stale. ``unmarked``: the
        caller has just seen that ``key`` is not marked not cacheable."""
        parts = key.parts
        l1 = self.l1
        if not unmarked and l1.get(("p", parts), peek=True)[0] is not None:
            return None
        index = l1.get(("i", parts), peek=True)[0]
        if not isinstance(index, tuple):
            return None
        entry = l1.get(("e", parts, vary_values(index, headers)), peek=True)[0]
        if isinstance(entry, CachedResponse) and entry.remaining(time.time()) > 0:
            return entry
        return None

    async def lookup_shared(
        self, key: RequestKey, headers: Sequence[tuple[bytes, bytes]], found: Found
    ) -> None:
        """Step one (the Vary index and generations) and step two (the variant) in Redis; a
        valid entry is copied into memory for its remaining lifetime."""
        l2 = self.l2
        if l2 is None or not l2.up:
            return
        epoch = self.epoch(key.tenant)
        looked = await l2.lookup(key, path_nodes(key.path))
        if looked is None:
            return
        found.generations = looked.generations
        if looked.vary is None:
            return
        found.vary = looked.vary
        values = vary_values(looked.vary, headers)
        entry = await l2.entry(key.tenant, key.variant_digest(values))
        if entry is None:
            return
        now = time.time()
        if (
            entry.generations != looked.generations
            or entry.vary_values != values
            or entry.remaining(now) <= 0
        ):
            found.stale = True
            return
        found.entry = entry
        self._keep_in_memory(key, entry, values, epoch, now)

    async def wait_for_other_replica(
        self, key: RequestKey, headers: Sequence[tuple[bytes, bytes]], lock_key: str
    ) -> CachedResponse | None:
        """Poll Redis until the replica holding the fill lock has stored the answer, gave the
        lock up (failed, or found the answer not cacheable: the "!" mark), the lock expired, or
        our own wait is over. Polling, not a subscription per key: each replica has at most one
        poller per key (its in-process flight's leader), every few milliseconds."""
        l2 = self.l2
        if l2 is None:
            return None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.wait_seconds
        delay = 0.002
        while loop.time() < deadline:
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)
            epoch = self.epoch(key.tenant)
            looked = await l2.lookup(key, path_nodes(key.path), lock_key)
            if looked is None:
                return None  # Redis went away: stop waiting for it
            if looked.vary is not None:
                values = vary_values(looked.vary, headers)
                entry = await l2.entry(key.tenant, key.variant_digest(values))
                now = time.time()
                if (
                    entry is not None
                    and entry.generations == looked.generations
                    and entry.vary_values == values
                    and entry.remaining(now) > 0
                ):
                    self._keep_in_memory(key, entry, values, epoch, now)
                    return entry
            if looked.lock is None or looked.lock == b"!":
                if looked.lock == b"!":
                    self.mark_not_cacheable(key)
                return None
        return None

    # --- store ---------------------------------------------------------------------------

    def _keep_in_memory(
        self,
        key: RequestKey,
        entry: CachedResponse,
        values: tuple[str | None, ...],
        epoch: tuple[int, int],
        now: float,
    ) -> None:
        if self.epoch(key.tenant) != epoch:
            return  # an invalidation arrived meanwhile; this answer may predate it
        ttl = entry.remaining(now)
        tenant, path, parts = key.tenant, key.path, key.parts
        self.l1.put(("i", parts), entry.vary, ttl, tenant=tenant, path=path, size=_INDEX_SIZE)
        self.l1.put(("e", parts, values), entry, ttl, tenant=tenant, path=path, size=entry.size)
        self.l1.delete(("p", parts))

    async def store(
        self,
        key: RequestKey,
        entry: CachedResponse,
        epoch: tuple[int, int],
        generations: tuple[int, ...] | None,
    ) -> None:
        """Keep ``entry`` in memory, and in Redis when its generations were read there at the
        start of the fetch (an invalidation since then leaves it unreachable, by design)."""
        now = time.time()
        self._keep_in_memory(key, entry, entry.vary_values, epoch, now)
        l2 = self.l2
        if l2 is not None and generations is not None:
            ttl = entry.remaining(now)
            if ttl > 0:
                await l2.store(key, key.variant_digest(entry.vary_values), entry, ttl)

    def mark_not_cacheable(self, key: RequestKey) -> None:
        seconds = self.config.hit_for_miss_seconds
        if seconds > 0:
            self.l1.put(
                ("p", key.parts),
                _NOT_CACHEABLE_MARK,
                seconds,
                tenant=key.tenant,
                path=key.path,
                size=_MARK_SIZE,
            )
