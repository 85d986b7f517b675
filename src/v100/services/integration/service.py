"""integration's webhook domain: endpoints (their URL checked against the SSRF rules, their
secret and its rotation), test events, replays and recovery, and the reads behind the messages,
attempts, dead-letter and notification lists. No HTTP objects in here; the dispatcher is woken
after each commit that queued deliveries."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from v100.kit.bus import Event
from v100.kit.db import Page, session_hooks
from v100.kit.fetch import FetchPolicy, UrlFetchFailed, UrlNotAllowed, check_url
from v100.services.integration.clock import Clock
from v100.services.integration.errors import (
    EndpointDisabled,
    EndpointNotFound,
    MessageNotFound,
    ReplayRangeInvalid,
)
from v100.services.integration.fanout import add_deliveries, record_events
from v100.services.integration.filters import matches
from v100.services.integration.models import Attempt, Delivery, Endpoint, Message, Notification
from v100.services.integration.repository import (
    AttemptRepository,
    DeliveryRepository,
    EndpointRepository,
    MessageRepository,
    NotificationRepository,
)
from v100.services.integration.settings import IntegrationSettings
from v100.services.integration.signing import new_secret

__all__ = ["WebhookService"]

_REPLAY_BATCH = 500


class WebhookService:
    """One per request: the settings, the SSRF policy receivers are held to, the clock, and
    what wakes the dispatcher."""

    def __init__(
        self,
        settings: IntegrationSettings,
        policy: FetchPolicy,
        clock: Clock,
        wake: Callable[[], None],
    ) -> None:
        self.settings = settings
        self.policy = policy
        self.clock = clock
        self.wake = wake

    async def _receiver_url(self, url: str) -> str:
        try:
            return await check_url(url, self.policy)
        except UrlFetchFailed as exc:
            raise UrlNotAllowed(f"The URL's host does not resolve: {exc.detail}") from None

    def _wake_after_commit(self, session: AsyncSession) -> None:
        session_hooks(session).after_commit(self.wake)

    # -- endpoints ------------------------------------------------------------------------

    async def create_endpoint(
        self, session: AsyncSession, tenant_id: str, fields: dict[str, Any]
    ) -> Endpoint:
        fields["url"] = await self._receiver_url(fields["url"])
        endpoint = Endpoint(tenant_id=tenant_id, secret=new_secret(), **fields)
        if not endpoint.enabled:
            endpoint.disabled_reason, endpoint.disabled_at = "manual", self.clock.now()
        return await EndpointRepository(session).add(endpoint)

    async def endpoint(self, session: AsyncSession, tenant_id: str, endpoint_id: str) -> Endpoint:
        endpoint = await EndpointRepository(session).get(tenant_id, endpoint_id)
        if endpoint is None:
            raise EndpointNotFound(f"Webhook endpoint {endpoint_id} does not exist.")
        return endpoint

    async def endpoints(
        self, session: AsyncSession, tenant_id: str, *, limit: int, cursor: str | None
    ) -> Page[Endpoint]:
        return await EndpointRepository(session).list(tenant_id, limit=limit, cursor=cursor)

    async def update_endpoint(
        self, session: AsyncSession, tenant_id: str, endpoint_id: str, changes: dict[str, Any]
    ) -> Endpoint:
        endpoint = await self.endpoint(session, tenant_id, endpoint_id)
        if "url" in changes:
            changes["url"] = await self._receiver_url(changes["url"])
        enabled = changes.pop("enabled", None)
        for name, value in changes.items():
            setattr(endpoint, name, value)
        if enabled is True and not endpoint.enabled:
            # A fresh start: failures before the fix no longer count towards disabling.
            endpoint.enabled, endpoint.failing_since = True, None
            endpoint.disabled_reason = endpoint.disabled_at = None
        elif enabled is False and endpoint.enabled:
            endpoint.enabled, endpoint.disabled_reason = False, "manual"
            endpoint.disabled_at = self.clock.now()
        await session.flush()
        return endpoint

    async def delete_endpoint(
        self, session: AsyncSession, tenant_id: str, endpoint_id: str
    ) -> None:
        endpoint = await self.endpoint(session, tenant_id, endpoint_id)
        # What still waits for it goes with it; what was delivered stays in the logs.
        await session.execute(
            delete(Delivery).where(
                Delivery.tenant_id == tenant_id,
                Delivery.endpoint_id == endpoint.id,
                Delivery.status == "pending",
            )
        )
        await session.delete(endpoint)
        await session.flush()

    async def rotate_secret(
        self, session: AsyncSession, tenant_id: str, endpoint_id: str, overlap: int | None
    ) -> Endpoint:
        endpoint = await self.endpoint(session, tenant_id, endpoint_id)
        seconds = self.settings.secret_overlap_seconds if overlap is None else overlap
        endpoint.previous_secret = endpoint.secret if seconds else None
        endpoint.previous_secret_expires_at = (
            self.clock.now() + timedelta(seconds=seconds) if seconds else None
        )
        endpoint.secret = new_secret()
        await session.flush()
        return endpoint

    # -- sending and replaying ------------------------------------------------------------

    async def send_test(
        self, session: AsyncSession, tenant_id: str, endpoint_id: str, event_type: str
    ) -> Message:
        """A message of ``event_type`` (``webhook.test`` by default) to this endpoint only,
        whatever its filters; refused while the endpoint is disabled (nothing would send it)."""
        endpoint = await self.endpoint(session, tenant_id, endpoint_id)
        if not endpoint.enabled:
            raise EndpointDisabled(f"Webhook endpoint {endpoint_id} is disabled; enable it first.")
        now = self.clock.now()
        event = Event(
            type=event_type,
            source="integration",
            tenant_id=tenant_id,
            time=now,
            data={"endpoint_id": endpoint.id, "test": True},
        )
        (message_id,) = await record_events(session, [event], now, endpoints=[endpoint])
        self._wake_after_commit(session)
        return await self.message(session, tenant_id, message_id)

    async def replay_message(
        self, session: AsyncSession, tenant_id: str, message_id: str, endpoint_id: str | None
    ) -> int:
        """Deliver a message again (same ``webhook-id``) to the endpoint given, or to every
        endpoint that had it; an endpoint that never had it but matches gets it too."""
        message = await self.message(session, tenant_id, message_id)
        now = self.clock.now()
        where = [Delivery.message_id == message.id]
        targets: list[Endpoint] = []
        if endpoint_id is not None:
            endpoint = await self.endpoint(session, tenant_id, endpoint_id)
            where.append(Delivery.endpoint_id == endpoint.id)
            targets = [endpoint]
        reopened = await DeliveryRepository(session).reopen(tenant_id, where, now)
        added = await add_deliveries(session, message, targets, now)
        self._wake_after_commit(session)
        return reopened + added

    async def replay_range(
        self,
        session: AsyncSession,
        tenant_id: str,
        endpoint_id: str,
        since: datetime,
        until: datetime | None,
    ) -> int:
        """Every message of [since, until) the endpoint's filters match, to that endpoint
        again (those already queued stay as they are)."""
        endpoint = await self.endpoint(session, tenant_id, endpoint_id)
        now = self.clock.now()
        until = self._check_range(since, until, now)
        queued, after = 0, None
        messages = MessageRepository(session)
        deliveries = DeliveryRepository(session)
        while batch := await messages.in_range(
            tenant_id, since, until, after_id=after, limit=_REPLAY_BATCH
        ):
            after = batch[-1].id
            wanted = [m for m in batch if matches(endpoint.event_types, m.event_type)]
            if not wanted:
                continue
            ids = [m.id for m in wanted]
            queued += await deliveries.reopen(
                tenant_id,
                [Delivery.endpoint_id == endpoint.id, Delivery.message_id.in_(ids)],
                now,
            )
            for message in wanted:
                queued += await add_deliveries(session, message, [endpoint], now)
        self._wake_after_commit(session)
        return queued

    async def recover(
        self,
        session: AsyncSession,
        tenant_id: str,
        endpoint_id: str,
        since: datetime,
        until: datetime | None,
    ) -> int:
        """The endpoint's dead letters that failed in [since, until), queued again."""
        endpoint = await self.endpoint(session, tenant_id, endpoint_id)
        now = self.clock.now()
        until = self._check_range(since, until, now)
        reopened = await DeliveryRepository(session).reopen(
            tenant_id,
            [
                Delivery.endpoint_id == endpoint.id,
                Delivery.status == "failed",
                Delivery.failed_at >= since,
                Delivery.failed_at < until,
            ],
            now,
        )
        self._wake_after_commit(session)
        return reopened

    def _check_range(self, since: datetime, until: datetime | None, now: datetime) -> datetime:
        until = until or now + timedelta(seconds=1)
        if until <= since:
            raise ReplayRangeInvalid("`until` must come after `since`.")
        return until

    # -- reads ----------------------------------------------------------------------------

    async def message(self, session: AsyncSession, tenant_id: str, message_id: str) -> Message:
        message = await MessageRepository(session).get(tenant_id, message_id)
        if message is None:
            raise MessageNotFound(f"Message {message_id} does not exist.")
        return message

    async def deliveries_of(
        self, session: AsyncSession, tenant_id: str, message_id: str
    ) -> list[Delivery]:
        return list(await DeliveryRepository(session).of_message(tenant_id, message_id))

    async def messages(
        self, session: AsyncSession, tenant_id: str, **filters: Any
    ) -> Page[Message]:
        return await MessageRepository(session).page(tenant_id, **filters)

    async def attempts(
        self, session: AsyncSession, tenant_id: str, **filters: Any
    ) -> Page[Attempt]:
        if filters.get("message_id") is not None:
            await self.message(session, tenant_id, filters["message_id"])
        if filters.get("endpoint_id") is not None:
            await self.endpoint(session, tenant_id, filters["endpoint_id"])
        return await AttemptRepository(session).page(tenant_id, **filters)

    async def dead_letters(
        self, session: AsyncSession, tenant_id: str, **filters: Any
    ) -> Page[Delivery]:
        return await DeliveryRepository(session).dead_letters(tenant_id, **filters)

    async def notifications(
        self, session: AsyncSession, tenant_id: str, *, limit: int, cursor: str | None
    ) -> Page[Notification]:
        return await NotificationRepository(session).page(tenant_id, limit=limit, cursor=cursor)
