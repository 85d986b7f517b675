"""Administration without HTTP, for ``v100 tenant create``, ``v100 api-key create`` and ``v100
operator key ...``: the same service layer and rules as the endpoints, run against the gateway's
database after migrating it, so an operator can bootstrap the first tenant and key before
anything is running. The operator's own keys are made only here, on the host (ADR 0027)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from v100.kit.db import create_engine, create_sessionmaker, migrate, unit_of_work
from v100.kit.errors import BadRequest, NotFound
from v100.services.gateway.identity.database import DATABASE, SERVICE
from v100.services.gateway.identity.models import ApiKey, OperatorKey, Tenant, User
from v100.services.gateway.identity.repository import TenantRecordRepository, UserRepository
from v100.services.gateway.identity.schemas import ApiKeyCreate, SignupRequest
from v100.services.gateway.identity.service import (
    ApiKeyService,
    AuthService,
    Identity,
    OperatorKeyService,
    normalize_email,
    user_principal,
)
from v100.services.gateway.identity.settings import IdentityConfig

__all__ = [
    "CreatedKey",
    "create_api_key",
    "create_operator_key",
    "create_tenant",
    "list_operator_keys",
    "revoke_operator_key",
]


@dataclass(frozen=True, slots=True)
class CreatedKey:
    key: ApiKey
    secret: str
    tenant: Tenant
    creator: User


@asynccontextmanager
async def _gateway_session(settings: IdentityConfig) -> AsyncIterator[AsyncSession]:
    url = settings.resolved_database_url
    await migrate(SERVICE, url, DATABASE.migrations_dir, DATABASE.metadata)
    engine = create_engine(url, application_name="v100.gateway.admin")
    try:
        async with unit_of_work(create_sessionmaker(engine)) as session:
            yield session
    finally:
        await engine.dispose()


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"])
    return f"{where}: {error['msg']}" if where else str(error["msg"])


async def create_tenant(
    settings: IdentityConfig, name: str, email: str, password: str
) -> tuple[Tenant, User]:
    """A tenant and its owner, checked by the same rules as ``POST /v1/auth/signup``."""
    try:
        request = SignupRequest(email=email, password=password, tenant_name=name)
    except ValidationError as exc:
        raise BadRequest(_first_error(exc)) from exc
    async with _gateway_session(settings) as session:
        service = AuthService(session, Identity.from_settings(settings))
        return await service.create_tenant(request.tenant_name, request.email, request.password)


async def create_api_key(
    settings: IdentityConfig,
    *,
    name: str,
    scopes: Sequence[str],
    tenant_id: str | None = None,
    email: str | None = None,
    expires_at: datetime | None = None,
) -> CreatedKey:
    """A key made by the user with ``email``, or by the first owner of ``tenant_id``; it gets
    no scope its creator lacks, as with ``POST /v1/api-keys``."""
    if tenant_id is None and email is None:
        raise BadRequest("Name the tenant (--tenant-id) or the creating user (--email).")
    try:
        request = ApiKeyCreate(name=name, scopes=list(scopes), expires_at=expires_at)
    except ValidationError as exc:
        raise BadRequest(_first_error(exc)) from exc
    async with _gateway_session(settings) as session:
        users = UserRepository(session)
        if email is not None:
            creator = await users.get_by_email(normalize_email(email))
            if creator is None or (tenant_id is not None and creator.tenant_id != tenant_id):
                raise NotFound(f"No user {email} in that tenant.")
        else:
            assert tenant_id is not None
            creator = await users.first_owner(tenant_id)
            if creator is None:
                raise NotFound(f"No tenant {tenant_id} with an active owner.")
        tenant = await TenantRecordRepository(session).get(creator.tenant_id)
        if tenant is None:
            raise NotFound(f"No tenant {creator.tenant_id}.")
        if creator.disabled:
            raise BadRequest(f"{creator.email} is disabled.")
        service = ApiKeyService(session, Identity.from_settings(settings))
        key, secret = await service.create(
            user_principal(creator, tenant),
            name=request.name,
            scopes=request.scopes,
            expires_at=request.expires_at,
        )
        return CreatedKey(key=key, secret=secret, tenant=tenant, creator=creator)


async def create_operator_key(
    settings: IdentityConfig, *, name: str, scopes: Sequence[str]
) -> tuple[OperatorKey, str]:
    """An operator key and its secret (shown once)."""
    name = name.strip()
    if not 1 <= len(name) <= 100:
        raise BadRequest("name: 1 to 100 characters.")
    async with _gateway_session(settings) as session:
        return await OperatorKeyService(session).create(name=name, scopes=scopes)


async def list_operator_keys(settings: IdentityConfig) -> Sequence[OperatorKey]:
    async with _gateway_session(settings) as session:
        return await OperatorKeyService(session).list()


async def revoke_operator_key(settings: IdentityConfig, key_id: str) -> OperatorKey:
    async with _gateway_session(settings) as session:
        return await OperatorKeyService(session).revoke(key_id)
