"""The gateway's queries. Tenant-owned rows go through ``TenantRepository``; the few lookups
that must cross tenants are the ones a credential itself identifies (a login email, a refresh
token's or an API key's digest) and are named so."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from v100.kit.db import TenantRepository, utcnow
from v100.services.gateway.identity.models import ApiKey, OperatorKey, RefreshToken, Tenant, User


class TenantRecordRepository:
    """The tenants themselves: not tenant-scoped, since a tenant row *is* the scope."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, tenant_id: str) -> Tenant | None:
        return await self.session.get(Tenant, tenant_id)

    async def add(self, tenant: Tenant) -> Tenant:
        self.session.add(tenant)
        await self.session.flush()
        return tenant

    async def lock(self, tenant_id: str) -> None:
        """Serialize membership changes of one tenant until the commit point.

        A write to the tenant row takes PostgreSQL's row lock and SQLite's database write lock
        alike (``SELECT ... FOR UPDATE`` would do nothing on SQLite), so a check such as "is
        this the last owner?" made afterwards cannot race another transaction's change.
        """
        await self.session.execute(
            update(Tenant).where(Tenant.id == tenant_id).values(updated_at=utcnow())
        )


class UserRepository(TenantRepository[User]):
    model = User

    async def standing(self, tenant_id: str, user_id: str) -> tuple[str, bool] | None:
        """(role, disabled) of a member now; None once they are gone."""
        result = await self.session.execute(
            select(User.role, User.disabled).where(User.tenant_id == tenant_id, User.id == user_id)
        )
        row = result.one_or_none()
        return None if row is None else (row.role, row.disabled)

    async def get_by_email(self, email: str) -> User | None:
        """Across tenants: an email is a login name, unique on the whole platform."""
        result = await self.session.execute(select(User).where(User.email == email))
        return result.scalar_one_or_none()

    async def email_taken(self, email: str) -> bool:
        result = await self.session.execute(select(User.id).where(User.email == email))
        return result.first() is not None

    async def count_active_owners(self, tenant_id: str) -> int:
        statement = (
            select(func.count())
            .select_from(User)
            .where(User.tenant_id == tenant_id, User.role == "owner", User.disabled.is_(False))
        )
        return int((await self.session.execute(statement)).scalar_one())

    async def first_owner(self, tenant_id: str) -> User | None:
        statement = (
            self.select_for(tenant_id)
            .where(User.role == "owner", User.disabled.is_(False))
            .order_by(User.id)
            .limit(1)
        )
        return (await self.session.execute(statement)).scalar_one_or_none()


class RefreshTokenRepository(TenantRepository[RefreshToken]):
    model = RefreshToken

    async def get_by_digest(self, token_hash: str) -> RefreshToken | None:
        """Across tenants: the token names its own tenant."""
        statement = select(RefreshToken).where(RefreshToken.token_hash == token_hash)
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def mark_used(self, token: RefreshToken, replaced_by: str, when: datetime) -> bool:
        """Mark ``token`` used, only if nobody did first; False means it was already spent.

        One conditional UPDATE, so two concurrent refreshes with the same token cannot both
        succeed: the loser sees zero rows changed and treats it as reuse.
        """
        statement = (
            update(RefreshToken)
            .where(
                RefreshToken.id == token.id,
                RefreshToken.used_at.is_(None),
                RefreshToken.revoked_at.is_(None),
            )
            .values(used_at=when, replaced_by=replaced_by)
            .execution_options(synchronize_session=False)
        )
        result = await self.session.execute(statement)
        return _rowcount(result) == 1

    async def revoke_family(self, family_id: str, when: datetime) -> int:
        statement = (
            update(RefreshToken)
            .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=when)
            .execution_options(synchronize_session=False)
        )
        return _rowcount(await self.session.execute(statement))

    async def revoke_for_user(self, tenant_id: str, user_id: str, when: datetime) -> int:
        statement = (
            update(RefreshToken)
            .where(
                RefreshToken.tenant_id == tenant_id,
                RefreshToken.user_id == user_id,
                RefreshToken.revoked_at.is_(None),
            )
            .values(revoked_at=when)
            .execution_options(synchronize_session=False)
        )
        return _rowcount(await self.session.execute(statement))


class ApiKeyRepository(TenantRepository[ApiKey]):
    model = ApiKey

    async def resolve(self, key_hash: str) -> tuple[ApiKey, User | None, Tenant] | None:
        """Across tenants: the key with its creator and tenant, in one round trip (this runs
        on the gateway's hot path whenever the in-process cache misses)."""
        statement = (
            select(ApiKey, User, Tenant)
            .join(Tenant, Tenant.id == ApiKey.tenant_id)
            .outerjoin(User, User.id == ApiKey.created_by)
            .where(ApiKey.key_hash == key_hash)
        )
        row = (await self.session.execute(statement)).first()
        if row is None:
            return None
        key, user, tenant = row
        return key, user, tenant

    async def touch(self, key_id: str, when: datetime) -> None:
        await self.session.execute(
            update(ApiKey)
            .where(ApiKey.id == key_id)
            .values(last_used_at=when)
            .execution_options(synchronize_session=False)
        )

    async def revoke_created_by(
        self, tenant_id: str, user_id: str, when: datetime
    ) -> Sequence[ApiKey]:
        """Revoke every live key ``user_id`` created; the keys revoked."""
        live = self.select_for(tenant_id).where(
            ApiKey.created_by == user_id, ApiKey.revoked_at.is_(None)
        )
        keys = (await self.session.execute(live)).scalars().all()
        for key in keys:
            key.revoked_at = when
        await self.session.flush()
        return keys


class OperatorKeyRepository:
    """The operator's keys: not tenant-owned, managed only from the host."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, key: OperatorKey) -> None:
        self.session.add(key)
        await self.session.flush()

    async def by_hash(self, key_hash: str) -> OperatorKey | None:
        statement = select(OperatorKey).where(OperatorKey.key_hash == key_hash)
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def get(self, key_id: str) -> OperatorKey | None:
        return await self.session.get(OperatorKey, key_id)

    async def all(self) -> Sequence[OperatorKey]:
        statement = select(OperatorKey).order_by(OperatorKey.created_at, OperatorKey.id)
        return (await self.session.execute(statement)).scalars().all()

    async def touch(self, key_id: str, when: datetime) -> None:
        await self.session.execute(
            update(OperatorKey)
            .where(OperatorKey.id == key_id)
            .values(last_used_at=when)
            .execution_options(synchronize_session=False)
        )


def _rowcount(result: object) -> int:
    # ``session.execute`` is typed as returning ``Result``; UPDATEs give a ``CursorResult``.
    assert isinstance(result, CursorResult)
    return int(result.rowcount)
