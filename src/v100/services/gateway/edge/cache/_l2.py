"""The shared tier (L2) on Redis: entries every replica reads, the per-URL Vary index, the fill
locks that make replicas wait for one another, and the invalidation generations. Redis being
away never fails a request: the tier reports itself down (logged once), every call answers as a
miss, and a probe brings it back when Redis answers again.

Keys, under the configured prefix (``v100:gateway:rc:`` by default), tenant in clear so an
operator can see and drop one tenant's share, everything else hashed (no credential detail):

    i:<tenant>:<request digest>   Vary names of the URL (JSON list), the index of step one
    e:<tenant>:<variant digest>   a stored answer (see CachedResponse.to_bytes)
    l:<tenant>:<flight digest>    fill lock: a leader's token, or "!" = not cacheable for now
    g:<tenant or *>:<node digest> invalidation generation of one path level (INCR to drop)
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import orjson
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from v100.kit.observability import get_logger
from v100.services.gateway.edge.cache._entry import CachedResponse, RequestKey

__all__ = ["NOT_CACHEABLE", "Acquired", "IndexLookup", "RedisTier"]

_log = get_logger("v100.gateway.response_cache")

_DOWN = (RedisConnectionError, RedisTimeoutError, OSError, TimeoutError)
# A lock's value once its leader found the answer not cacheable: waiters stop waiting, and for
# a while new requests go straight to the upstream (hit-for-miss, shared by every replica).
NOT_CACHEABLE = b"!"
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  if ARGV[2] == '0' then return redis.call('del', KEYS[1]) end
  redis.call('set', KEYS[1], '!', 'PX', ARGV[2])
  return 1
end
return 0
"""

Acquired = Literal["leader", "wait", "not-cacheable", "down"]


@dataclass(frozen=True, slots=True)
class IndexLookup:
    vary: tuple[str, ...] | None  # None: no index, the URL was not stored (or was dropped)
    generations: tuple[int, ...]
    lock: bytes | None = None


def _node_digest(node: str) -> str:
    return hashlib.blake2b(node.encode(), digest_size=12).hexdigest()


class RedisTier:
    def __init__(
        self,
        url: str,
        prefix: str,
        *,
        timeout: float,
        probe_seconds: float,
        generation_ttl_seconds: float,
        on_recover: Callable[[], None],
    ) -> None:
        self._url = url
        self._prefix = prefix
        self._timeout = timeout
        self._probe_seconds = probe_seconds
        self._generation_ttl_ms = max(1000, round(generation_ttl_seconds * 1000))
        self._on_recover = on_recover
        self._client: aioredis.Redis | None = None
        self._release: Any = None
        self._refusals: set[str] = set()
        self.up = True

    # --- keys ----------------------------------------------------------------------------

    def index_key(self, key: RequestKey) -> str:
        return f"{self._prefix}i:{key.tenant}:{key.digest}"

    def entry_key(self, tenant: str, variant: str) -> str:
        return f"{self._prefix}e:{tenant}:{variant}"

    def lock_key(self, tenant: str, flight: str) -> str:
        return f"{self._prefix}l:{tenant}:{flight}"

    def generation_keys(self, tenant: str | None, nodes: Sequence[str]) -> list[str]:
        owner = "*" if tenant is None else tenant
        return [f"{self._prefix}g:{owner}:{_node_digest(node)}" for node in nodes]

    # --- life ----------------------------------------------------------------------------

    @property
    def client(self) -> aioredis.Redis:
        if self._client is None:
            self._client = aioredis.Redis.from_url(
                self._url,
                decode_responses=False,
                protocol=2,
                # A cache that waits long for Redis is slower than no cache: fail fast.
                socket_timeout=self._timeout,
                socket_connect_timeout=self._timeout,
                # One quick retry replaces a pooled connection a restarted Redis left broken.
                retry=Retry(NoBackoff(), 1),
            )
            self._release = self._client.register_script(_RELEASE)
        return self._client

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    def _refused(self, what: str, exc: BaseException) -> None:
        """Redis answered with an error (a bug or an old server, not an outage): said once per
        operation, so a request stream does not turn into a log stream."""
        if what not in self._refusals:
            self._refusals.add(what)
            _log.error(
                "response cache: redis refused an operation", operation=what, error=repr(exc)
            )

    def _down(self, what: str, exc: BaseException) -> None:
        if self.up:
            _log.warning(
                "response cache: redis unreachable, serving from this replica's memory only",
                operation=what,
                error=repr(exc),
            )
        self.up = False

    async def probe(self) -> bool:
        """Ping; on the first answer after an outage, mark the tier up again."""
        try:
            async with asyncio.timeout(self._timeout * 2):
                await self.client.ping()
        except (*_DOWN, RedisError) as exc:
            self._down("ping", exc)
            return False
        if not self.up:
            _log.info("response cache: redis is back, the shared tier is in use again")
            self.up = True
            self._on_recover()
        return True

    async def watch(self) -> None:
        """Probe forever (a background task): outages are noticed without waiting for a
        request, and so is the return."""
        while True:
            await asyncio.sleep(self._probe_seconds)
            await self.probe()

    # --- reads ---------------------------------------------------------------------------

    async def lookup(
        self, key: RequestKey, nodes: Sequence[str], lock_key: str | None = None
    ) -> IndexLookup | None:
        """Step one in one round trip: the URL's Vary index, the generations of its path
        levels (its tenant's and every tenant's), and optionally a lock's value."""
        if not self.up:
            return None
        keys = [*self.generation_keys(key.tenant, nodes), *self.generation_keys(None, nodes)]
        try:
            pipe = self.client.pipeline(transaction=False)
            pipe.get(self.index_key(key))
            pipe.mget(keys)
            if lock_key is not None:
                pipe.get(lock_key)
            replies = await pipe.execute()
        except _DOWN as exc:
            self._down("lookup", exc)
            return None
        except RedisError as exc:
            self._refused("lookup", exc)
            return None
        vary: tuple[str, ...] | None = None
        if replies[0] is not None:
            try:
                vary = tuple(str(name) for name in orjson.loads(replies[0]))
            except (ValueError, TypeError):
                vary = None  # unreadable: as if absent; the next store rewrites it
        generations = tuple(int(g) if g is not None else 0 for g in replies[1])
        return IndexLookup(vary, generations, replies[2] if lock_key is not None else None)

    async def entry(self, tenant: str, variant: str) -> CachedResponse | None:
        if not self.up:
            return None
        try:
            raw = await self.client.get(self.entry_key(tenant, variant))
        except _DOWN as exc:
            self._down("get", exc)
            return None
        except RedisError as exc:
            self._refused("read", exc)
            return None
        if not isinstance(raw, bytes):
            return None  # absent (decode_responses is off, so never a str)
        try:
            return CachedResponse.from_bytes(raw)
        except (ValueError, KeyError, TypeError):
            _log.error("response cache: unreadable entry dropped", tenant=tenant)
            return None

    # --- writes --------------------------------------------------------------------------

    async def store(self, key: RequestKey, variant: str, entry: CachedResponse, ttl: float) -> bool:
        if not self.up:
            return False
        px = max(1, round(ttl * 1000))
        try:
            pipe = self.client.pipeline(transaction=False)
            pipe.set(self.index_key(key), orjson.dumps(list(entry.vary)), px=px)
            pipe.set(self.entry_key(key.tenant, variant), entry.to_bytes(), px=px)
            await pipe.execute()
        except _DOWN as exc:
            self._down("store", exc)
            return False
        except RedisError as exc:
            self._refused("write", exc)
            return False
        return True

    async def acquire(self, lock_key: str, token: bytes, seconds: float) -> Acquired:
        """Become the one replica that fetches this answer, or learn who does."""
        if not self.up:
            return "down"
        try:
            previous = await self.client.set(
                lock_key, token, nx=True, px=max(1, round(seconds * 1000)), get=True
            )
        except _DOWN as exc:
            self._down("lock", exc)
            return "down"
        except RedisError as exc:
            self._refused("lock", exc)
            return "down"
        if previous is None:
            return "leader"
        return "not-cacheable" if previous == NOT_CACHEABLE else "wait"

    async def release(self, lock_key: str, token: bytes, not_cacheable_seconds: float) -> None:
        """Give the lock back; with ``not_cacheable_seconds`` > 0 leave the "!" mark instead,
        so waiters stop and later requests skip waiting for that long."""
        if not self.up or self._release is None:
            return
        ms = max(0, round(not_cacheable_seconds * 1000))
        try:
            await self._release(keys=[lock_key], args=[token, str(ms)])
        except _DOWN as exc:
            self._down("unlock", exc)
        except RedisError as exc:
            self._refused("unlock", exc)

    async def bump(self, tenant: str | None, nodes: Sequence[str]) -> None:
        """Invalidate every entry under these path levels, in O(levels): entries remember the
        generations of their fetch, and a changed generation makes them misses. Raises
        ``BackendUnavailable``-like errors to the caller (the bus consumer retries)."""
        pipe = self.client.pipeline(transaction=False)
        for key in self.generation_keys(tenant, nodes):
            pipe.incr(key)
            # Outlives every entry that could have read the old value, so a generation that
            # expires can never come back to a value an old entry remembers.
            pipe.pexpire(key, self._generation_ttl_ms)
        await pipe.execute()
