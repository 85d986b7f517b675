"""The tenant's tier as its billing_engine subscription gives it (issue 4), for the limits and the
internal token: read through the contracts client, kept per tenant for ``tier_cache_seconds``
(then served stale while one refresh runs), refreshed at once on ``subscription.changed``. When
billing_engine does not answer, the last known tier (else the default) is used, logged once and
counted; a request never fails for it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
import uuid
from dataclasses import dataclass

import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge
from pydantic import ValidationError

from v100.contracts.billing_engine import BillingEngineClient
from v100.contracts.events import SUBSCRIPTION_CHANGED, SUBSCRIPTIONS_STREAM, SubscriptionChanged
from v100.kit.auth import Principal
from v100.kit.bus import Bus, Handler, Message
from v100.kit.errors import BackendUnavailable, UpstreamUnavailable
from v100.kit.http import Runtime, ServiceClient
from v100.kit.observability import get_logger
from v100.services.gateway.edge.limits._tiers import RateLimitSettings

__all__ = ["SubscriptionTiers", "TierMetrics"]

_log = get_logger("v100.gateway.limits")
# Events are taken by one replica (a group the replicas share) and fanned out to all of them.
GROUP = "gateway.tiers"
CHANNEL = "gateway.tiers"
_RETRY_FIRST_SECONDS = 0.05
_RETRY_MAX_SECONDS = 2.0
# Bounds the memory: past it, entries that have expired are dropped, and if none has, all.
_MAX_TENANTS = 100_000


class TierMetrics:
    """In the gateway's own registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.lookups = Counter(
            "v100_gateway_tier_lookups_total",
            "Reads of a tenant's tier from billing_engine, by outcome: fetched, or when "
            "billing_engine did not answer, fallback_cached (the last known tier was kept) or "
            "fallback_default (the default tier was used).",
            ["outcome"],
            registry=registry,
        )
        self.unreachable = Gauge(
            "v100_gateway_tier_source_unreachable",
            "1 while billing_engine's last answer about a tier was a failure.",
            registry=registry,
        )
        self.changes = Counter(
            "v100_gateway_tier_change_events_total",
            "subscription.changed events applied to this replica's tier cache.",
            registry=registry,
        )


@dataclass(slots=True)
class _Known:
    tier: str
    fresh_until: float  # monotonic seconds; after it, served stale while a refresh runs
    wait: bool = False  # a change was announced: requests wait for the refresh (bounded)


class SubscriptionTiers:
    """A ``TierSource``. The hot path is one dict probe and a clock read; billing_engine is
    asked once per tenant per ``tier_cache_seconds`` (one request at a time per tenant), and
    only a tenant's first request, or its first after a change event, waits for the answer."""

    def __init__(self, config: RateLimitSettings, billing_engine_url: str) -> None:
        self.config = config
        self.url = billing_engine_url
        self.default_tier = config.default_tier
        self._ttl = config.tier_cache_seconds
        self._retry = config.tier_retry_seconds
        self._known: dict[str, _Known] = {}
        self._inflight: dict[str, asyncio.Future[str]] = {}
        # Change events seen per tenant: a read that started before one is read again.
        self._changes: dict[str, int] = {}
        self._client: BillingEngineClient | None = None
        self.runtime: Runtime | None = None
        self.metrics: TierMetrics | None = None
        self.unreachable = False
        self.listening = asyncio.Event()
        self.consumer = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"

    # -- the request path ------------------------------------------------------------------

    async def tier(self, principal: Principal) -> str:
        tenant_id = principal.tenant_id
        known = self._known.get(tenant_id)
        if known is not None and known.fresh_until > time.monotonic():
            return known.tier
        pending = self._inflight.get(tenant_id)
        if pending is None:
            pending = self._refresh(tenant_id)
        if known is not None and not known.wait:
            return known.tier  # expired: the old answer while the refresh runs
        # shield: a caller that goes away does not cancel the refresh others wait for.
        return await asyncio.shield(pending)

    def tier_now(self, principal: Principal) -> str | None:
        """``tier`` when it needs no waiting: a fresh tier, or an expired one (not invalidated
        by a change) while its refresh runs, started here if none is; else None."""
        tenant_id = principal.tenant_id
        known = self._known.get(tenant_id)
        if known is None:
            return None
        if known.fresh_until > time.monotonic():
            return known.tier
        if known.wait:
            return None
        if tenant_id not in self._inflight:
            self._refresh(tenant_id)
        return known.tier

    def cached(self, tenant_id: str) -> str | None:
        known = self._known.get(tenant_id)
        return known.tier if known is not None else None

    def changed(self, tenant_id: str) -> None:
        """A subscription.changed for ``tenant_id``: re-read it now; its next requests wait for
        the answer (at most the lookup timeout), so they see the new tier."""
        known = self._known.get(tenant_id)
        if known is None:
            return  # never asked here: its first request reads it anyway
        known.fresh_until = 0.0
        known.wait = True
        self._changes[tenant_id] = self._changes.get(tenant_id, 0) + 1
        if tenant_id not in self._inflight:
            self._refresh(tenant_id)  # else the read in flight reads again when it ends
        if self.metrics is not None:
            self.metrics.changes.inc()

    def _refresh(self, tenant_id: str) -> asyncio.Future[str]:
        task = asyncio.ensure_future(self._fetch(tenant_id))
        self._inflight[tenant_id] = task

        def done(finished: asyncio.Future[str]) -> None:
            if self._inflight.get(tenant_id) is finished:
                del self._inflight[tenant_id]
            # A change announced while this read was in flight may not be in its answer.
            if self._changes.get(tenant_id, 0) != seen and tenant_id not in self._inflight:
                known = self._known.get(tenant_id)
                if known is not None and not finished.cancelled():
                    known.fresh_until = 0.0
                    known.wait = True
                    self._refresh(tenant_id)

        seen = self._changes.get(tenant_id, 0)
        task.add_done_callback(done)
        return task

    async def _fetch(self, tenant_id: str) -> str:
        """Never raises: the tier, or the fallback with the failure logged and counted."""
        client = self._client
        try:
            if client is None:
                raise UpstreamUnavailable("the tier source is not bound to a running app")
            answer = await client.tier(tenant_id)
        except Exception as exc:  # whatever went wrong, the request goes on (the fallback)
            return self._fall_back(tenant_id, exc)
        self._remember(tenant_id, answer.tier, self._ttl)
        if self.metrics is not None:
            self.metrics.lookups.labels("fetched").inc()
        if self.unreachable:
            self.unreachable = False
            if self.metrics is not None:
                self.metrics.unreachable.set(0)
            _log.info("billing_engine answers again: tiers come from subscriptions")
        return answer.tier

    def _fall_back(self, tenant_id: str, exc: BaseException) -> str:
        known = self._known.get(tenant_id)
        tier = known.tier if known is not None else self.default_tier
        # Asked again after ``tier_retry_seconds``, not on every request meanwhile.
        self._remember(tenant_id, tier, self._retry)
        if self.metrics is not None:
            outcome = "fallback_cached" if known is not None else "fallback_default"
            self.metrics.lookups.labels(outcome).inc()
            self.metrics.unreachable.set(1)
        if not self.unreachable:
            self.unreachable = True
            _log.warning(
                "billing_engine did not answer for a tenant's tier: using the last known tier, "
                "else the default, until it does",
                default=self.default_tier,
                url=self.url,
                error=repr(exc),
            )
        return tier

    def _remember(self, tenant_id: str, tier: str, seconds: float) -> None:
        known = self._known
        now = time.monotonic()
        if tenant_id not in known and len(known) >= _MAX_TENANTS:
            for key in [key for key, entry in known.items() if entry.fresh_until <= now]:
                del known[key]
            if len(known) >= _MAX_TENANTS:
                known.clear()
            self._changes = {key: n for key, n in self._changes.items() if key in known}
        known[tenant_id] = _Known(tier, now + seconds)

    # -- the app's lifetime ----------------------------------------------------------------

    def bind(self, runtime: Runtime) -> None:
        """Start serving this run of the app: the client, the metrics and the event listeners
        (background tasks the runtime cancels at shutdown). Synchronous, like the limiter's."""
        if self.runtime is runtime:
            return
        self.runtime = runtime
        if self.metrics is None:
            self.metrics = TierMetrics(runtime.metrics.registry)
        self._known.clear()  # a restarted app may have missed changes meanwhile
        self._changes.clear()
        timeout = self.config.tier_timeout_seconds
        # One attempt: the request waiting on it is better served by the fallback than by
        # retries; the next refresh is the retry.
        client = BillingEngineClient(
            ServiceClient(
                self.url,
                runtime.tokens,
                timeout=timeout,
                connect_timeout=timeout,
                max_attempts=1,
            ),
            caller="gateway",
        )
        self._client = client
        self.listening = asyncio.Event()
        runtime.background.append(asyncio.create_task(self._consume(runtime.bus, client)))
        runtime.background.append(asyncio.create_task(self._listen(runtime.bus)))

    async def _consume(self, bus: Bus, client: BillingEngineClient) -> None:
        """Take subscription.changed from the stream and fan it out; owns the client."""
        try:
            delay = _RETRY_FIRST_SECONDS
            while True:
                try:
                    # A new group starts at new events: nothing was cached before it existed.
                    await bus.ensure_group(SUBSCRIPTIONS_STREAM, GROUP, from_start=False)
                    break
                except BackendUnavailable:
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, _RETRY_MAX_SECONDS)
            await bus.consume(SUBSCRIPTIONS_STREAM, GROUP, self.consumer, self._fan_out(bus))
        finally:
            for pending in list(self._inflight.values()):
                pending.cancel()
            await client.aclose()

    def _fan_out(self, bus: Bus) -> Handler:
        async def handle(message: Message) -> None:
            event = message.event
            if event.type != SUBSCRIPTION_CHANGED or event.tenant_id is None:
                return
            try:
                SubscriptionChanged.model_validate(event.data)
            except ValidationError as exc:
                _log.error("bad subscription.changed dropped", event_id=event.id, error=str(exc))
                return
            await bus.publish_ephemeral(CHANNEL, orjson.dumps({"tenant_id": event.tenant_id}))

        return handle

    async def _listen(self, bus: Bus) -> None:
        """Apply fanned-out changes to this replica's cache until cancelled."""
        delay = _RETRY_FIRST_SECONDS
        while True:
            try:
                async with bus.subscribe(CHANNEL) as subscription:
                    self.listening.set()
                    delay = _RETRY_FIRST_SECONDS
                    async for payload in subscription:
                        with contextlib.suppress(ValueError, KeyError, TypeError):
                            self.changed(str(orjson.loads(payload)["tenant_id"]))
            except BackendUnavailable as exc:
                _log.warning("tier change subscription failed", error=str(exc))
            await asyncio.sleep(delay)
            delay = min(delay * 2, _RETRY_MAX_SECONDS)
