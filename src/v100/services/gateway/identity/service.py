"""The gateway's identity and tenancy rules: sign-up, login, refresh-token rotation with reuse
detection, logout; API keys (shown once, stored hashed, scoped no wider than their creator);
and tenant membership with its roles. No HTTP objects here: failures are kit errors."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from v100.contracts.scopes import PLATFORM_SCOPES
from v100.kit.auth import OPERATOR_TENANT_ID, Principal
from v100.kit.db import InvalidCursorError, Page, new_id, session_hooks, utcnow
from v100.kit.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    Unauthorized,
    ValidationFailed,
)
from v100.kit.observability import get_logger
from v100.services.gateway.identity.credentials import (
    AccessTokens,
    IssuedAccessToken,
    PasswordHasher,
    digest,
    new_api_key,
    new_refresh_token,
)
from v100.services.gateway.identity.keycache import ApiKeyCache, ResolvedKey
from v100.services.gateway.identity.models import ApiKey, OperatorKey, RefreshToken, Tenant, User
from v100.services.gateway.identity.repository import (
    ApiKeyRepository,
    OperatorKeyRepository,
    RefreshTokenRepository,
    TenantRecordRepository,
    UserRepository,
)
from v100.services.gateway.identity.settings import IdentityConfig
from v100.services.gateway.identity.standing import MemberCache, Standing

# Users act with every scope; their role decides what they may administer. Scopes exist to
# narrow what an API key may do.
USER_SCOPES = frozenset({"*"})
MANAGERS = frozenset({"owner", "admin"})
OPERATOR_SCOPES = tuple(scope for scope in PLATFORM_SCOPES if scope.startswith("operator:"))
KEY_PREFIX_SHOWN = 12  # "v100_sk_" and four characters of the secret
_log = get_logger("v100.gateway")


def normalize_email(email: str) -> str:
    return email.strip().lower()


@dataclass
class Identity:
    """What the gateway needs to prove and issue identities, built once per app."""

    passwords: PasswordHasher
    access_tokens: AccessTokens
    api_keys: ApiKeyCache
    members: MemberCache
    refresh_ttl: timedelta

    @classmethod
    def from_settings(cls, config: IdentityConfig) -> Identity:
        settings = config.identity
        return cls(
            passwords=PasswordHasher(
                time_cost=settings.password_time_cost,
                memory_kib=settings.password_memory_kib,
                parallelism=settings.password_parallelism,
                max_waiting=settings.password_max_waiting,
            ),
            access_tokens=AccessTokens(
                config.resolved_jwt_secret, settings.access_token_ttl_seconds
            ),
            api_keys=ApiKeyCache(settings.api_key_cache_seconds),
            members=MemberCache(settings.member_cache_seconds),
            refresh_ttl=timedelta(seconds=settings.refresh_token_ttl_seconds),
        )


@dataclass(frozen=True, slots=True)
class SignedIn:
    tenant: Tenant
    user: User
    access: IssuedAccessToken
    refresh_token: str


class RefreshTokenReused(Unauthorized):
    """A spent refresh token came back, so someone holds a copy: its whole family is revoked.
    Returned rather than raised, so the revocation is committed along with the 401."""


def user_principal(user: User, tenant: Tenant) -> Principal:
    return Principal(
        tenant_id=tenant.id, user_id=user.id, scopes=USER_SCOPES, tier=tenant.tier, role=user.role
    )


def _require_manager(principal: Principal, action: str) -> None:
    if principal.role not in MANAGERS:
        raise Forbidden(f"Only owners and admins may {action}.")


def _bad_cursor() -> BadRequest:
    return BadRequest("The cursor is not one this list gave out.")


async def _add_user(session: AsyncSession, user: User) -> User:
    session.add(user)
    try:
        await session.flush()
    except IntegrityError as exc:
        # Two requests with one address raced past the check; the unique index decided.
        raise Conflict("An account with this email already exists.") from exc
    return user


class AuthService:
    """Sign-up, login, and the refresh-token families behind each login."""

    def __init__(self, session: AsyncSession, identity: Identity) -> None:
        self.session = session
        self.identity = identity
        self.tenants = TenantRecordRepository(session)
        self.users = UserRepository(session)
        self.tokens = RefreshTokenRepository(session)

    async def signup(self, email: str, password: str, tenant_name: str) -> SignedIn:
        tenant, user = await self.create_tenant(tenant_name, email, password)
        return await self._sign_in(user, tenant)

    async def create_tenant(self, name: str, email: str, password: str) -> tuple[Tenant, User]:
        """A new tenant and its owner, without signing anyone in (``v100 tenant create``)."""
        email = normalize_email(email)
        if await self.users.email_taken(email):
            raise Conflict("An account with this email already exists.")
        password_hash = await self.identity.passwords.hash(password)
        tenant = await self.tenants.add(Tenant(id=new_id(), name=name))
        user = User(tenant_id=tenant.id, email=email, password_hash=password_hash, role="owner")
        return tenant, await _add_user(self.session, user)

    async def login(self, email: str, password: str) -> SignedIn:
        user = await self.users.get_by_email(normalize_email(email))
        stored = user.password_hash if user is not None else None
        # Verified even for an unknown email (against a decoy) so timing tells nothing.
        if not await self.identity.passwords.verify(stored, password) or user is None:
            raise Unauthorized("The email or password is not right.")
        if user.disabled:
            raise Unauthorized("This account is disabled.")
        if self.identity.passwords.needs_rehash(user.password_hash):
            user.password_hash = await self.identity.passwords.hash(password)
        tenant = await self.tenants.get(user.tenant_id)
        if tenant is None:  # the foreign key makes this unreachable short of manual surgery
            raise Unauthorized("This account has no tenant.")
        return await self._sign_in(user, tenant)

    async def refresh(self, refresh_token: str) -> SignedIn | RefreshTokenReused:
        """Rotate: the presented token is spent and the next one of its family is issued."""
        token = await self.tokens.get_by_digest(digest(refresh_token))
        if token is None or token.revoked_at is not None:
            raise Unauthorized("The refresh token is not valid.")
        now = utcnow()
        if token.used_at is not None:
            return await self._reused(token)
        if token.expires_at <= now:
            raise Unauthorized("The refresh token has expired.")
        user = await self.users.get(token.tenant_id, token.user_id)
        tenant = await self.tenants.get(token.tenant_id)
        if user is None or tenant is None or user.disabled:
            raise Unauthorized("The refresh token is not valid.")
        next_id = new_id()
        if not await self.tokens.mark_used(token, next_id, now):
            return await self._reused(token)  # a concurrent refresh spent it first
        return await self._sign_in(user, tenant, family_id=token.family_id, token_id=next_id)

    async def logout(self, refresh_token: str) -> None:
        """Revoke the login the token belongs to; unknown tokens are ignored (nothing to end)."""
        token = await self.tokens.get_by_digest(digest(refresh_token))
        if token is not None:
            await self.tokens.revoke_family(token.family_id, utcnow())

    async def _reused(self, token: RefreshToken) -> RefreshTokenReused:
        revoked = await self.tokens.revoke_family(token.family_id, utcnow())
        _log.warning(
            "refresh token reused; family revoked",
            tenant_id=token.tenant_id,
            user_id=token.user_id,
            family_id=token.family_id,
            revoked=revoked,
        )
        return RefreshTokenReused(
            "This refresh token was already used; the login it belongs to is now signed out."
        )

    async def _sign_in(
        self,
        user: User,
        tenant: Tenant,
        *,
        family_id: str | None = None,
        token_id: str | None = None,
    ) -> SignedIn:
        secret = new_refresh_token()
        await self.tokens.add(
            RefreshToken(
                id=token_id or new_id(),
                tenant_id=tenant.id,
                family_id=family_id or new_id(),
                token_hash=digest(secret),
                user_id=user.id,
                expires_at=utcnow() + self.identity.refresh_ttl,
            )
        )
        access = self.identity.access_tokens.mint(user_principal(user, tenant))
        return SignedIn(tenant=tenant, user=user, access=access, refresh_token=secret)


class ApiKeyService:
    """API keys: created by owners and admins, shown once, resolved on every keyed request."""

    def __init__(self, session: AsyncSession, identity: Identity) -> None:
        self.session = session
        self.identity = identity
        self.keys = ApiKeyRepository(session)

    async def create(
        self,
        principal: Principal,
        *,
        name: str,
        scopes: Sequence[str],
        expires_at: datetime | None = None,
    ) -> tuple[ApiKey, str]:
        """The new key and its secret, which is not kept and cannot be shown again."""
        _require_manager(principal, "manage API keys")
        wider = sorted(scope for scope in set(scopes) if not principal.has_scope(scope))
        if wider:
            raise Forbidden(f"A key cannot have scopes its creator lacks: {', '.join(wider)}.")
        if expires_at is not None and expires_at <= utcnow():
            raise ValidationFailed("expires_at must be in the future.")
        secret = new_api_key()
        key = ApiKey(
            tenant_id=principal.tenant_id,
            name=name,
            prefix=secret[:KEY_PREFIX_SHOWN],
            key_hash=digest(secret),
            scopes=sorted(set(scopes)),
            created_by=principal.user_id,
            expires_at=expires_at,
        )
        await self.keys.add(key)
        return key, secret

    async def list(self, principal: Principal, *, limit: int, cursor: str | None) -> Page[ApiKey]:
        _require_manager(principal, "manage API keys")
        try:
            return await self.keys.list(principal.tenant_id, limit=limit, cursor=cursor)
        except InvalidCursorError as exc:
            raise _bad_cursor() from exc

    async def revoke(self, principal: Principal, key_id: str) -> None:
        """Idempotent: revoking a revoked key succeeds; another tenant's key is not found."""
        _require_manager(principal, "manage API keys")
        key = await self.keys.get(principal.tenant_id, key_id)
        if key is None:
            raise NotFound("No such API key.")
        if key.revoked_at is None:
            key.revoked_at = utcnow()
            await self.session.flush()
        key_hash = key.key_hash
        # After the commit: a lookup racing this one must not re-cache the key as still live.
        session_hooks(self.session).after_commit(
            lambda: self.identity.api_keys.invalidate(key_hash)
        )

    async def resolve(self, key_hash: str) -> ResolvedKey:
        """Who a key acts for: its tenant, its creator (with their current role) and its own
        scopes. A revoked key, or one whose creator left or was disabled, resolves to nobody."""
        found = await self.keys.resolve(key_hash)
        if found is None:
            return await OperatorKeyService(self.session).resolve(key_hash)
        key, user, tenant = found
        if key.revoked_at is not None or user is None or user.disabled:
            return ResolvedKey(None, creator_id=key.created_by)
        principal = Principal(
            tenant_id=tenant.id,
            user_id=user.id,
            scopes=frozenset(key.scopes),
            tier=tenant.tier,
            role=user.role,
            api_key_id=key.id,
        )
        return ResolvedKey(principal, key.expires_at, creator_id=user.id)

    async def record_use(self, principal: Principal) -> None:
        assert principal.api_key_id is not None
        if principal.tenant_id == OPERATOR_TENANT_ID:
            await OperatorKeyRepository(self.session).touch(principal.api_key_id, utcnow())
        else:
            await self.keys.touch(principal.api_key_id, utcnow())


class OperatorKeyService:
    """The operator's keys (ADR 0027): made, listed and revoked on the host only. A key acts
    as ``OPERATOR_TENANT_ID`` with its ``operator:`` scopes and nothing else."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.keys = OperatorKeyRepository(session)

    async def create(self, *, name: str, scopes: Sequence[str]) -> tuple[OperatorKey, str]:
        wrong = sorted(scope for scope in set(scopes) if scope not in OPERATOR_SCOPES)
        if wrong or not scopes:
            raise ValidationFailed(
                f"An operator key carries operator scopes only ({', '.join(OPERATOR_SCOPES)})"
                + (f", not {', '.join(wrong)}." if wrong else ".")
            )
        secret = new_api_key()
        key = OperatorKey(
            name=name,
            prefix=secret[:KEY_PREFIX_SHOWN],
            key_hash=digest(secret),
            scopes=sorted(set(scopes)),
        )
        await self.keys.add(key)
        return key, secret

    async def list(self) -> Sequence[OperatorKey]:
        return await self.keys.all()

    async def revoke(self, key_id: str) -> OperatorKey:
        """Idempotent. Every gateway replica stops accepting it within its key cache time."""
        key = await self.keys.get(key_id)
        if key is None:
            raise NotFound(f"No operator key {key_id}.")
        if key.revoked_at is None:
            key.revoked_at = utcnow()
            await self.session.flush()
        return key

    async def resolve(self, key_hash: str) -> ResolvedKey:
        key = await self.keys.by_hash(key_hash)
        if key is None or key.revoked_at is not None:
            return ResolvedKey(None)
        principal = Principal(
            tenant_id=OPERATOR_TENANT_ID,
            scopes=frozenset(key.scopes),
            role="operator",
            api_key_id=key.id,
        )
        return ResolvedKey(principal)


class TenantService:
    """The caller's tenant and its members. Only owners grant or take the owner role, and a
    tenant always keeps one active owner."""

    def __init__(self, session: AsyncSession, identity: Identity) -> None:
        self.session = session
        self.identity = identity
        self.tenants = TenantRecordRepository(session)
        self.users = UserRepository(session)

    async def standing(self, tenant_id: str, user_id: str) -> Standing:
        found = await self.users.standing(tenant_id, user_id)
        return Standing(None) if found is None else Standing(*found)

    async def current(self, principal: Principal) -> Tenant:
        tenant = await self.tenants.get(principal.tenant_id)
        if tenant is None:
            raise NotFound("No such tenant.")
        return tenant

    async def members(self, principal: Principal, *, limit: int, cursor: str | None) -> Page[User]:
        try:
            return await self.users.list(
                principal.tenant_id, limit=limit, cursor=cursor, newest_first=False
            )
        except InvalidCursorError as exc:
            raise _bad_cursor() from exc

    async def add_member(
        self, principal: Principal, *, email: str, password: str, role: str
    ) -> User:
        _require_manager(principal, "add members")
        if role == "owner" and principal.role != "owner":
            raise Forbidden("Only owners may add owners.")
        email = normalize_email(email)
        if await self.users.email_taken(email):
            raise Conflict("An account with this email already exists.")
        password_hash = await self.identity.passwords.hash(password)
        user = User(
            tenant_id=principal.tenant_id, email=email, password_hash=password_hash, role=role
        )
        return await _add_user(self.session, user)

    async def update_member(
        self,
        principal: Principal,
        user_id: str,
        *,
        role: str | None = None,
        disabled: bool | None = None,
    ) -> User:
        _require_manager(principal, "change members")
        await self.tenants.lock(principal.tenant_id)
        user = await self._member(principal, user_id)
        if role is not None and role != user.role and principal.role != "owner":
            raise Forbidden("Only owners may change roles.")
        if disabled is not None and user.role == "owner" and principal.role != "owner":
            raise Forbidden("Only owners may disable or enable an owner.")
        stops_owning = (role is not None and role != "owner") or disabled is True
        if user.role == "owner" and not user.disabled and stops_owning:
            await self._keep_an_owner(principal.tenant_id)
        if role is not None:
            user.role = role
        if disabled is not None:
            user.disabled = disabled
        if disabled:
            await RefreshTokenRepository(self.session).revoke_for_user(
                principal.tenant_id, user.id, utcnow()
            )
        await self.session.flush()
        # Keys act with their creator's role and standing, both of which may have changed.
        self._forget(principal.tenant_id, user.id)
        return user

    async def remove_member(self, principal: Principal, user_id: str) -> Sequence[ApiKey]:
        """Removes the user, ends their logins and revokes the API keys they created (they
        acted with the member's role): returned, so the caller can replace them."""
        _require_manager(principal, "remove members")
        await self.tenants.lock(principal.tenant_id)
        user = await self._member(principal, user_id)
        if user.role == "owner":
            if principal.role != "owner":
                raise Forbidden("Only owners may remove an owner.")
            if not user.disabled:
                await self._keep_an_owner(principal.tenant_id)
        revoked = await ApiKeyRepository(self.session).revoke_created_by(
            principal.tenant_id, user.id, utcnow()
        )
        # Refresh tokens go with the row (ON DELETE CASCADE).
        await self.users.delete(principal.tenant_id, user.id)
        cache, hashes = self.identity.api_keys, [key.key_hash for key in revoked]
        session_hooks(self.session).after_commit(lambda: cache.invalidate(hashes))
        self._forget(principal.tenant_id, user.id)
        return revoked

    async def _member(self, principal: Principal, user_id: str) -> User:
        user = await self.users.get(principal.tenant_id, user_id)
        if user is None:
            raise NotFound("No such member.")
        return user

    async def _keep_an_owner(self, tenant_id: str) -> None:
        # Called with the tenant locked, so the count cannot change before the commit.
        if await self.users.count_active_owners(tenant_id) <= 1:
            raise Conflict("A tenant must keep at least one active owner.")

    def _forget(self, tenant_id: str, user_id: str) -> None:
        """After the commit, drop what this replica remembers of the member: their standing
        (their tokens) and the keys they made (which act with it)."""
        keys, members = self.identity.api_keys, self.identity.members

        def forget() -> None:
            keys.invalidate_user(user_id)
            members.invalidate(tenant_id, user_id)

        session_hooks(self.session).after_commit(forget)
