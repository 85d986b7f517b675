"""SMS queries. Tenant reads go through ``TenantRepository`` (another tenant's id is not found);
the few that cross tenants say why: Twilio's callbacks name a message or a number, not a tenant,
and the outbox serves every tenant's due messages."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, select, update

from v100.kit.db import Page, TenantRepository
from v100.services.integration.repository import insert_new
from v100.services.integration.sms.models import OPEN_STATUSES, SmsMessage, SmsOptOut, SmsSender

__all__ = ["MessageRepository", "OptOutRepository", "SenderRepository"]


class SenderRepository(TenantRepository[SmsSender]):
    model = SmsSender

    async def default(self, tenant_id: str) -> SmsSender | None:
        statement = self.select_for(tenant_id).where(SmsSender.is_default.is_(True))
        return (await self.session.execute(statement.limit(1))).scalar_one_or_none()

    async def first_other(self, tenant_id: str, sender_id: str) -> SmsSender | None:
        statement = self.select_for(tenant_id).where(SmsSender.id != sender_id)
        statement = statement.order_by(SmsSender.id).limit(1)
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def clear_default(self, tenant_id: str) -> None:
        await self.session.execute(
            update(SmsSender)
            .where(SmsSender.tenant_id == tenant_id, SmsSender.is_default.is_(True))
            .values(is_default=False)
        )

    async def address_taken(self, phone_number: str | None, service_sid: str | None) -> bool:
        """Whether any tenant registered this number or Messaging Service."""
        clauses = []
        if phone_number is not None:
            clauses.append(SmsSender.phone_number == phone_number)
        if service_sid is not None:
            clauses.append(SmsSender.messaging_service_sid == service_sid)
        statement = select(SmsSender.id).where(or_(*clauses)).limit(1)
        return (await self.session.execute(statement)).first() is not None

    async def receiving(self, to: str | None, service_sid: str | None) -> Sequence[SmsSender]:
        """The senders an inbound message reached, whichever tenant owns them: its ``To``
        number, and the Messaging Service it came through."""
        clauses = []
        if to:
            clauses.append(SmsSender.phone_number == to)
        if service_sid:
            clauses.append(SmsSender.messaging_service_sid == service_sid)
        if not clauses:
            return []
        return (await self.session.execute(select(SmsSender).where(or_(*clauses)))).scalars().all()


class MessageRepository(TenantRepository[SmsMessage]):
    model = SmsMessage

    async def page(
        self, tenant_id: str, *, statuses: Iterable[str], limit: int, cursor: str | None
    ) -> Page[SmsMessage]:
        wanted = list(statuses)
        where = [SmsMessage.status.in_(wanted)] if wanted else []
        return await self.list(tenant_id, limit=limit, cursor=cursor, where=where)

    async def any_tenant(self, message_id: str) -> SmsMessage | None:
        """A message by id alone: for Twilio's status callback, whose URL names the message
        and whose signature (not a tenant's token) is the credential."""
        return await self.session.get(SmsMessage, message_id)

    async def move(
        self,
        message_id: str,
        from_statuses: Iterable[str],
        values: dict[str, Any],
        *,
        lease_token: str | None = None,
    ) -> bool:
        """Change the message if its status is still one of ``from_statuses`` (and, given a
        lease token, the lease is still that one): whether this change won."""
        statement = update(SmsMessage).where(
            SmsMessage.id == message_id, SmsMessage.status.in_(list(from_statuses))
        )
        if lease_token is not None:
            statement = statement.where(SmsMessage.lease_token == lease_token)
        result = await self.session.execute(
            statement.values(**values).execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def remember_sid(
        self, message_id: str, sid: str, submitted_at: datetime | None = None
    ) -> None:
        """Keep Twilio's SID of the message (and when Twilio took it), unless kept already."""
        kept = [("twilio_sid", sid), ("submitted_at", submitted_at)]
        for name, value in kept:
            if value is None:
                continue
            column = getattr(SmsMessage, name)
            await self.session.execute(
                update(SmsMessage)
                .where(SmsMessage.id == message_id, column.is_(None))
                .values({name: value})
                .execution_options(synchronize_session=False)
            )

    async def due(self, now: datetime, limit: int) -> Sequence[str]:
        """Messages the outbox should hand to Twilio now: open ones whose time came, and ones
        whose sender's lease ran out (its process died mid-send)."""
        statement = (
            select(SmsMessage.id)
            .where(
                or_(
                    SmsMessage.status.in_(OPEN_STATUSES) & (SmsMessage.next_attempt_at <= now),
                    (SmsMessage.status == "submitting") & (SmsMessage.lease_until <= now),
                )
            )
            .order_by(SmsMessage.next_attempt_at)
            .limit(limit)
        )
        return (await self.session.execute(statement)).scalars().all()

    async def claim(
        self, message_id: str, now: datetime, lease_token: str, lease_until: datetime
    ) -> bool:
        """Take a due message for this outbox (a conditional update: one claimer wins)."""
        statement = (
            update(SmsMessage)
            .where(
                SmsMessage.id == message_id,
                or_(
                    SmsMessage.status.in_(OPEN_STATUSES) & (SmsMessage.next_attempt_at <= now),
                    (SmsMessage.status == "submitting") & (SmsMessage.lease_until <= now),
                ),
            )
            .values(
                status="submitting",
                lease_token=lease_token,
                lease_until=lease_until,
                attempts=SmsMessage.attempts + 1,
            )
            .execution_options(synchronize_session=False)
        )
        return bool((await self.session.execute(statement)).rowcount)  # type: ignore[attr-defined]


class OptOutRepository(TenantRepository[SmsOptOut]):
    model = SmsOptOut

    async def page(
        self, tenant_id: str, *, phone_number: str | None, limit: int, cursor: str | None
    ) -> Page[SmsOptOut]:
        where = [SmsOptOut.phone_number == phone_number] if phone_number else []
        return await self.list(tenant_id, limit=limit, cursor=cursor, where=where)

    async def opted_out(self, sender_address: str, phone_number: str) -> bool:
        """Whether the recipient opted out of this address, whichever tenant held it then:
        an opt-out is a fact about the number, and outlives the sender row."""
        statement = select(SmsOptOut.id).where(
            SmsOptOut.sender_address == sender_address, SmsOptOut.phone_number == phone_number
        )
        return (await self.session.execute(statement.limit(1))).first() is not None

    async def record(self, values: dict[str, Any]) -> bool:
        """Record an opt-out unless it is recorded already; whether it is new."""
        return await insert_new(self.session, SmsOptOut, values, ("sender_address", "phone_number"))

    async def remove(self, sender_address: str, phone_number: str) -> bool:
        result = await self.session.execute(
            delete(SmsOptOut).where(
                SmsOptOut.sender_address == sender_address, SmsOptOut.phone_number == phone_number
            )
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]
