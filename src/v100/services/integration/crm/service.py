"""The CRM's domain, as the API drives it: authorizations (the OAuth ``state``) and their
callback, connections, contacts changed through V100 (marked for the next push), and sync on
demand. The sync itself is ``sync.ConnectionSync``."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from v100.kit.db import Page, new_id, unit_of_work
from v100.kit.sealing import Sealer
from v100.services.integration.clock import Clock
from v100.services.integration.crm.connectors import Connectors
from v100.services.integration.crm.errors import (
    AuthorizationDenied,
    ConnectionNotFound,
    ContactNotFound,
    OAuthStateInvalid,
    ReauthorizationRequired,
    VendorUnavailable,
)
from v100.services.integration.crm.models import (
    CrmActivity,
    CrmAuthorization,
    CrmConnection,
    CrmContact,
    CrmSyncDecision,
)
from v100.services.integration.crm.repository import (
    ActivityRepository,
    AuthorizationRepository,
    ConnectionRepository,
    ContactRepository,
    DecisionRepository,
)
from v100.services.integration.crm.sync import seal_tokens
from v100.services.integration.crm.vendors import VendorError, VendorGrantRefused
from v100.services.integration.settings import IntegrationSettings

__all__ = ["CrmService", "state_digest"]


def state_digest(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


class CrmService:
    def __init__(
        self,
        settings: IntegrationSettings,
        connectors: Connectors,
        sealer: Sealer,
        clock: Clock,
    ) -> None:
        self.settings = settings
        self.connectors = connectors
        self.sealer = sealer
        self.clock = clock

    # -- authorization -------------------------------------------------------------------------

    async def authorize(
        self, session: AsyncSession, tenant_id: str, vendor: str, activity_event_types: list[str]
    ) -> tuple[str, datetime]:
        """The vendor's authorize URL with a fresh ``state`` (stored as its digest), and when
        the state expires."""
        connector = self.connectors.get(vendor)
        state = secrets.token_urlsafe(32)
        now = self.clock.now()
        expires_at = now + timedelta(seconds=self.settings.crm_state_ttl_seconds)
        await AuthorizationRepository(session).add(CrmAuthorization(
            tenant_id=tenant_id, state_digest=state_digest(state), vendor=vendor,
            activity_event_types=activity_event_types, expires_at=expires_at, created_at=now,
        ))  # fmt: skip
        return connector.authorize_url(state, self.connectors.redirect_uri), expires_at

    async def complete(
        self,
        sessions: async_sessionmaker[AsyncSession],
        state: str,
        code: str | None,
        error: str | None,
    ) -> CrmConnection:
        """The callback: the state is used up (whatever follows), the code exchanged outside
        any transaction, and the connection made or its tokens renewed."""
        now = self.clock.now()
        async with unit_of_work(sessions) as session:
            authorizations = AuthorizationRepository(session)
            authorization = await authorizations.by_state(state_digest(state))
            if authorization is None:
                raise OAuthStateInvalid("The state is not one this service issued.")
            if authorization.used_at is not None:
                raise OAuthStateInvalid("The state was used already.")
            if authorization.expires_at <= now:
                raise OAuthStateInvalid("The state has expired: start the authorization again.")
            if not await authorizations.use(authorization.id, now):
                raise OAuthStateInvalid("The state was used already.")
            tenant_id, vendor = authorization.tenant_id, authorization.vendor
            event_types = list(authorization.activity_event_types)
            authorization_id = authorization.id
        if error is not None:
            raise AuthorizationDenied(f"{vendor} answered {error}.")
        if not code:
            raise AuthorizationDenied(f"{vendor} sent no authorization code.")
        connector = self.connectors.get(vendor)
        try:
            tokens = await connector.exchange(code, self.connectors.redirect_uri, now)
        except VendorGrantRefused as exc:
            raise AuthorizationDenied(f"{vendor} refused the code: {exc.message}") from exc
        except VendorError as exc:
            raise VendorUnavailable(
                f"{vendor} failed to exchange the code ({exc.status})."
            ) from exc
        async with unit_of_work(sessions) as session:
            connections = ConnectionRepository(session)
            connection = await connections.of_account(tenant_id, vendor, tokens.account_id)
            if connection is None:
                connection = CrmConnection(
                    id=new_id(), tenant_id=tenant_id, vendor=vendor,
                    account_id=tokens.account_id, activity_event_types=event_types,
                    sync_enabled=True, contacts_cursor=None, activities_cursor=None,
                )  # fmt: skip
                session.add(connection)
            connection.status = "active"
            connection.instance_url = tokens.instance_url or connection.instance_url
            seal_tokens(self.sealer, connection, tokens.access_token, tokens.refresh_token)
            connection.token_expires_at = tokens.expires_at
            connection.sync_status = "queued"
            connection.next_sync_at = now
            connection.last_error = None
            await session.flush()
            authorization_row = await AuthorizationRepository(session).get(
                tenant_id, authorization_id
            )
            if authorization_row is not None:
                authorization_row.connection_id = connection.id
            await session.refresh(connection)
            return connection

    # -- connections ---------------------------------------------------------------------------

    async def connections(
        self, session: AsyncSession, tenant_id: str, *, limit: int, cursor: str | None
    ) -> Page[CrmConnection]:
        return await ConnectionRepository(session).list(tenant_id, limit=limit, cursor=cursor)

    async def connection(
        self, session: AsyncSession, tenant_id: str, connection_id: str
    ) -> CrmConnection:
        connection = await ConnectionRepository(session).get(tenant_id, connection_id)
        if connection is None:
            raise ConnectionNotFound(f"No CRM connection {connection_id}.")
        return connection

    async def update_connection(
        self, session: AsyncSession, tenant_id: str, connection_id: str, changes: dict[str, Any]
    ) -> CrmConnection:
        connection = await self.connection(session, tenant_id, connection_id)
        for name, value in changes.items():
            setattr(connection, name, value)
        await session.flush()
        await session.refresh(connection)
        return connection

    async def delete_connection(
        self, session: AsyncSession, tenant_id: str, connection_id: str
    ) -> None:
        """Forget the connection, its tokens and what was synced (the CRM keeps its records)."""
        connection = await self.connection(session, tenant_id, connection_id)
        for model in (CrmContact, CrmActivity, CrmSyncDecision):
            rows = await session.execute(
                model.__table__.delete().where(  # type: ignore[attr-defined]
                    model.tenant_id == tenant_id, model.connection_id == connection_id
                )
            )
            del rows
        await session.delete(connection)
        await session.flush()

    async def request_sync(
        self, session: AsyncSession, tenant_id: str, connection_id: str
    ) -> CrmConnection:
        """Due at once; a sync running now goes again when it ends."""
        connection = await ConnectionRepository(session).fresh(tenant_id, connection_id)
        if connection is None:
            raise ConnectionNotFound(f"No CRM connection {connection_id}.")
        if connection.status != "active":
            raise ReauthorizationRequired(
                f"{connection.vendor} refused the refresh token: authorize again "
                "(POST /v1/crm/authorizations)."
            )
        connection.sync_status = "queued"
        connection.next_sync_at = self.clock.now()
        await session.flush()
        await session.refresh(connection)
        return connection

    # -- contacts ------------------------------------------------------------------------------

    async def contacts(
        self, session: AsyncSession, tenant_id: str, connection_id: str, *, email: str | None,
        limit: int, cursor: str | None,
    ) -> Page[CrmContact]:  # fmt: skip
        await self.connection(session, tenant_id, connection_id)
        return await ContactRepository(session).page(
            tenant_id, connection_id, email=email, limit=limit, cursor=cursor
        )

    async def contact(self, session: AsyncSession, tenant_id: str, contact_id: str) -> CrmContact:
        contact = await ContactRepository(session).get(tenant_id, contact_id)
        if contact is None:
            raise ContactNotFound(f"No CRM contact {contact_id}.")
        return contact

    async def create_contact(
        self, session: AsyncSession, tenant_id: str, connection_id: str, fields: dict[str, Any]
    ) -> CrmContact:
        """A contact made in V100: pushed to the CRM by the next sync (asked for at once)."""
        connection = await self.request_sync(session, tenant_id, connection_id)
        contact = await ContactRepository(session).add(CrmContact(
            tenant_id=tenant_id, connection_id=connection.id, remote_id=None, **fields,
            local_modified_at=self.clock.now(), pending_push=True,
        ))  # fmt: skip
        await session.refresh(contact)
        return contact

    async def update_contact(
        self, session: AsyncSession, tenant_id: str, contact_id: str, changes: dict[str, Any]
    ) -> CrmContact:
        contact = await self.contact(session, tenant_id, contact_id)
        if changes:
            for name, value in changes.items():
                setattr(contact, name, value)
            contact.local_modified_at = self.clock.now()
            contact.pending_push = True
            await self.request_sync(session, tenant_id, contact.connection_id)
        await session.flush()
        await session.refresh(contact)
        return contact

    # -- logs ----------------------------------------------------------------------------------

    async def decisions(
        self, session: AsyncSession, tenant_id: str, connection_id: str, *,
        contact_id: str | None, kind: str | None, limit: int, cursor: str | None,
    ) -> Page[CrmSyncDecision]:  # fmt: skip
        await self.connection(session, tenant_id, connection_id)
        return await DecisionRepository(session).page(
            tenant_id, connection_id, contact_id=contact_id, kind=kind, limit=limit, cursor=cursor
        )

    async def activities(
        self, session: AsyncSession, tenant_id: str, connection_id: str, *,
        status: str | None, limit: int, cursor: str | None,
    ) -> Page[CrmActivity]:  # fmt: skip
        await self.connection(session, tenant_id, connection_id)
        return await ActivityRepository(session).page(
            tenant_id, connection_id, status=status, limit=limit, cursor=cursor
        )
