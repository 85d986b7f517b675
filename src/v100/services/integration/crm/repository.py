"""The CRM's queries. Tenant-scoped (``TenantRepository``) for everything the API reads; two
are not, on purpose: an OAuth callback is found by its ``state`` alone (the state is the
credential, and it names the tenant), and the sync loop claims due connections of every tenant."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update

from v100.kit.db import Page, TenantRepository
from v100.services.integration.crm.models import (
    CrmActivity,
    CrmAuthorization,
    CrmConnection,
    CrmContact,
    CrmSyncDecision,
)
from v100.services.integration.models import Message

__all__ = [
    "ActivityRepository",
    "AuthorizationRepository",
    "ConnectionRepository",
    "ContactRepository",
    "DecisionRepository",
    "EventRepository",
]


class AuthorizationRepository(TenantRepository[CrmAuthorization]):
    model = CrmAuthorization

    async def by_state(self, state_digest: str) -> CrmAuthorization | None:
        """Not tenant-scoped: the callback knows only the state."""
        statement = select(CrmAuthorization).where(CrmAuthorization.state_digest == state_digest)
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def use(self, authorization_id: str, now: datetime) -> bool:
        """Mark it used unless it already was or has expired; whether this call won."""
        statement = (
            update(CrmAuthorization)
            .where(
                CrmAuthorization.id == authorization_id,
                CrmAuthorization.used_at.is_(None),
                CrmAuthorization.expires_at > now,
            )
            .values(used_at=now)
        )
        return bool((await self.session.execute(statement)).rowcount)  # type: ignore[attr-defined]


class ConnectionRepository(TenantRepository[CrmConnection]):
    model = CrmConnection

    async def of_account(
        self, tenant_id: str, vendor: str, account_id: str | None
    ) -> CrmConnection | None:
        if account_id is None:
            return None
        statement = self.select_for(tenant_id).where(
            CrmConnection.vendor == vendor, CrmConnection.account_id == account_id
        )
        return (await self.session.execute(statement.limit(1))).scalar_one_or_none()

    async def due(self, now: datetime, limit: int) -> Sequence[str]:
        """Ids of connections whose sync is due and not held (every tenant's)."""
        statement = (
            select(CrmConnection.id)
            .where(
                CrmConnection.sync_enabled.is_(True),
                CrmConnection.status == "active",
                CrmConnection.next_sync_at <= now,
                or_(CrmConnection.lease_until.is_(None), CrmConnection.lease_until < now),
            )
            .order_by(CrmConnection.next_sync_at)
            .limit(limit)
        )
        return (await self.session.execute(statement)).scalars().all()

    async def claim(self, connection_id: str, token: str, now: datetime, lease: float) -> bool:
        """Take the connection's sync (a conditional update); whether this process won it."""
        statement = (
            update(CrmConnection)
            .where(
                CrmConnection.id == connection_id,
                or_(CrmConnection.lease_until.is_(None), CrmConnection.lease_until < now),
            )
            .values(
                lease_token=token,
                lease_until=now + timedelta(seconds=lease),
                sync_status="running",
            )
        )
        return bool((await self.session.execute(statement)).rowcount)  # type: ignore[attr-defined]

    async def held(self, connection_id: str, token: str) -> CrmConnection | None:
        """The connection, fresh, while this process still holds its lease."""
        statement = (
            select(CrmConnection)
            .where(CrmConnection.id == connection_id, CrmConnection.lease_token == token)
            .execution_options(populate_existing=True)
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def fresh(self, tenant_id: str, connection_id: str) -> CrmConnection | None:
        statement = (
            self.select_for(tenant_id)
            .where(CrmConnection.id == connection_id)
            .execution_options(populate_existing=True)
        )
        return (await self.session.execute(statement)).scalar_one_or_none()


class ContactRepository(TenantRepository[CrmContact]):
    model = CrmContact

    async def by_remote(
        self, tenant_id: str, connection_id: str, remote_id: str
    ) -> CrmContact | None:
        statement = self.select_for(tenant_id).where(
            CrmContact.connection_id == connection_id, CrmContact.remote_id == remote_id
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def by_email(
        self, tenant_id: str, connection_id: str, email: str, *, unlinked: bool = False
    ) -> CrmContact | None:
        statement = self.select_for(tenant_id).where(
            CrmContact.connection_id == connection_id, CrmContact.email == email
        )
        if unlinked:
            statement = statement.where(CrmContact.remote_id.is_(None))
        statement = statement.order_by(CrmContact.id).limit(1)
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def pending(
        self, tenant_id: str, connection_id: str, after_id: str | None, limit: int
    ) -> Sequence[CrmContact]:
        statement = self.select_for(tenant_id).where(
            CrmContact.connection_id == connection_id,
            CrmContact.pending_push.is_(True),
            or_(
                CrmContact.refused_change_at.is_(None),
                CrmContact.refused_change_at != CrmContact.local_modified_at,
            ),
        )
        if after_id is not None:
            statement = statement.where(CrmContact.id > after_id)
        statement = statement.order_by(CrmContact.id).limit(limit)
        return (await self.session.execute(statement)).scalars().all()

    async def page(
        self, tenant_id: str, connection_id: str, *, email: str | None, limit: int,
        cursor: str | None,
    ) -> Page[CrmContact]:  # fmt: skip
        where = [CrmContact.connection_id == connection_id]
        if email is not None:
            where.append(CrmContact.email == email)
        return await self.list(tenant_id, limit=limit, cursor=cursor, where=where)

    async def settle_push(
        self, tenant_id: str, contact_id: str, read_at: datetime | None, values: dict[str, Any]
    ) -> bool:
        """Record what a push came to (sent, or refused by the CRM), unless the contact was
        changed again through the API meanwhile."""
        statement = update(CrmContact).where(
            CrmContact.tenant_id == tenant_id, CrmContact.id == contact_id
        )
        statement = statement.where(
            CrmContact.local_modified_at.is_(None)
            if read_at is None
            else CrmContact.local_modified_at == read_at
        )
        result = await self.session.execute(statement.values(**values))
        return bool(result.rowcount)  # type: ignore[attr-defined]


class ActivityRepository(TenantRepository[CrmActivity]):
    model = CrmActivity

    async def pending(
        self, tenant_id: str, connection_id: str, limit: int
    ) -> Sequence[CrmActivity]:
        statement = self.select_for(tenant_id).where(
            CrmActivity.connection_id == connection_id, CrmActivity.status == "pending"
        )
        return (
            (await self.session.execute(statement.order_by(CrmActivity.id).limit(limit)))
            .scalars()
            .all()
        )

    async def page(
        self, tenant_id: str, connection_id: str, *, status: str | None, limit: int,
        cursor: str | None,
    ) -> Page[CrmActivity]:  # fmt: skip
        where = [CrmActivity.connection_id == connection_id]
        if status is not None:
            where.append(CrmActivity.status == status)
        return await self.list(tenant_id, limit=limit, cursor=cursor, where=where)


class DecisionRepository(TenantRepository[CrmSyncDecision]):
    model = CrmSyncDecision

    async def page(
        self, tenant_id: str, connection_id: str, *, contact_id: str | None, kind: str | None,
        limit: int, cursor: str | None,
    ) -> Page[CrmSyncDecision]:  # fmt: skip
        where = [CrmSyncDecision.connection_id == connection_id]
        if contact_id is not None:
            where.append(CrmSyncDecision.contact_id == contact_id)
        if kind is not None:
            where.append(CrmSyncDecision.kind == kind)
        return await self.list(tenant_id, limit=limit, cursor=cursor, where=where)


class EventRepository(TenantRepository[Message]):
    """The platform events integration recorded (its messages), read for activities."""

    model = Message

    async def after(
        self, tenant_id: str, after_id: str | None, settled_before: datetime, limit: int
    ) -> Sequence[Message]:
        statement = self.select_for(tenant_id).where(Message.created_at <= settled_before)
        if after_id is not None:
            statement = statement.where(Message.id > after_id)
        return (
            (await self.session.execute(statement.order_by(Message.id).limit(limit)))
            .scalars()
            .all()
        )
