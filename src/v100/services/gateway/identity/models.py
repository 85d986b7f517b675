"""The gateway's tables: tenants, their users, refresh-token families (one per login, rotated on
every refresh), API keys and the operator's keys. Secrets are never stored: passwords as
Argon2id hashes, refresh tokens and API keys as SHA-256 digests."""

from datetime import datetime

from sqlalchemy import JSON, Boolean, CheckConstraint, ForeignKey, String, false
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from v100.kit.db import (
    ID_LENGTH,
    TYPE_ANNOTATION_MAP,
    TenantOwned,
    Timestamped,
    new_id,
    service_metadata,
)

ROLES = ("owner", "admin", "member")
DIGEST_LENGTH = 64  # hex SHA-256


def _tenant_column() -> Mapped[str]:
    # TenantOwned's column, tied to the tenants table: in the gateway the tenant is a local row,
    # and deleting it takes its users, sessions and keys along.
    return mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True, sort_order=-10)


class Base(DeclarativeBase):
    metadata = service_metadata("gateway")
    type_annotation_map = TYPE_ANNOTATION_MAP


class Tenant(Base, Timestamped):
    """An organisation: the scope every other row of the platform is filtered by."""

    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    tier: Mapped[str] = mapped_column(String(32), default="free", server_default="free")


class User(Base, TenantOwned, Timestamped):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint(f"role IN {ROLES!r}", name="role"),)

    tenant_id: Mapped[str] = _tenant_column()
    # Stored lower-cased (see service.normalize_email), so this unique index makes addresses
    # unique across the platform whatever their case: one login name, one tenant.
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class RefreshToken(Base, TenantOwned, Timestamped):
    """One link of a refresh-token family. Each refresh marks its link used and adds the next;
    presenting a used link again means the token was copied, and revokes the whole family."""

    __tablename__ = "refresh_tokens"

    tenant_id: Mapped[str] = _tenant_column()

    family_id: Mapped[str] = mapped_column(String(ID_LENGTH), index=True)
    token_hash: Mapped[str] = mapped_column(String(DIGEST_LENGTH), unique=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    replaced_by: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    revoked_at: Mapped[datetime | None]


class ApiKey(Base, TenantOwned, Timestamped):
    __tablename__ = "api_keys"

    tenant_id: Mapped[str] = _tenant_column()

    name: Mapped[str] = mapped_column(String(100))
    # The first characters of the key, shown in lists so people can tell their keys apart.
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(DIGEST_LENGTH), unique=True)
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    # SET NULL keeps the key's history when its creator leaves; leaving revokes it anyway.
    created_by: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]


class OperatorKey(Base, Timestamped):
    """A key of the platform's operator, made on the host (``v100 operator key create``), never
    through the API. It acts as ``kit.auth.OPERATOR_TENANT_ID`` with only ``operator:`` scopes
    (ADR 0027)."""

    __tablename__ = "operator_keys"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(DIGEST_LENGTH), unique=True)
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
