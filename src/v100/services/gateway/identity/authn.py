"""Who is calling the gateway: ``Authenticator`` resolves ``Authorization: Bearer <access
token>`` or ``X-API-Key: v100_sk_...`` (also accepted as a Bearer token, as OpenAI-style clients
send keys) into a kit ``Principal``, from the identity room's caches and database. The edge asks
it for every request that is not public (edge/authentication.py)."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from sqlalchemy.exc import SQLAlchemyError
from starlette.types import Scope

from v100.kit.auth import Principal
from v100.kit.db import unit_of_work, utcnow
from v100.kit.errors import BackendUnavailable, Unauthorized
from v100.kit.http import Runtime
from v100.kit.observability import get_logger
from v100.services.gateway.identity.credentials import API_KEY_PREFIX, digest
from v100.services.gateway.identity.keycache import ResolvedKey
from v100.services.gateway.identity.service import ApiKeyService, Identity, TenantService
from v100.services.gateway.identity.standing import Standing

__all__ = ["PUBLIC_PATHS", "Authenticator"]

# Identity's own routes that take no credential: the password and the refresh token in the
# body are the credential of these.
PUBLIC_PATHS = frozenset(
    {"/v1/auth/signup", "/v1/auth/login", "/v1/auth/refresh", "/v1/auth/logout"}
)
_MAX_KEY_LENGTH = 128
_REMEMBERED_DIGESTS = 10_000  # API keys (valid in form, up to 128 characters) and digests
_log = get_logger("v100.gateway.authn")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1")).strip()
    return None


def _acting(principal: Principal, role: str) -> Principal:
    """``principal`` with the member's current role (the same object when it has not changed)."""
    return principal if principal.role == role else replace(principal, role=role)


class Authenticator:
    """Turns a request's credentials into a Principal. API keys are resolved through the
    in-process cache; ``last_used_at`` is written in the background, never on the request."""

    def __init__(self, identity: Identity) -> None:
        self.identity = identity
        self._touches: set[asyncio.Task[None]] = set()
        self._digests: dict[str, str] = {}

    async def authenticate(self, scope: Scope) -> Principal:
        authorization = _header(scope, b"authorization")
        api_key = _header(scope, b"x-api-key")
        bearer: str | None = None
        if authorization is not None:
            scheme, _, credentials = authorization.partition(" ")
            if scheme.lower() != "bearer" or not credentials.strip():
                raise Unauthorized("Use Authorization: Bearer <token> or X-API-Key: <key>.")
            bearer = credentials.strip()
        if bearer is not None and api_key is not None:
            raise Unauthorized("Send one credential: Authorization or X-API-Key, not both.")
        if bearer is not None and bearer.startswith(API_KEY_PREFIX):
            api_key, bearer = bearer, None
        if bearer is not None:
            return await self._signed_in(scope, self.identity.access_tokens.verify(bearer))
        if api_key is not None:
            return await self._by_api_key(scope, api_key)
        raise Unauthorized(
            "Authentication is required: Authorization: Bearer <token> or X-API-Key: <key>."
        )

    def principal_now(self, headers: list[tuple[bytes, bytes]]) -> Principal | None:
        """The caller's Principal when ``authenticate`` would find it without waiting (an
        access token, or an API key in the cache whose use was recorded lately); None for
        everything else, including every failure, which the full path then answers."""
        authorization = api_key = None
        for name, value in headers:  # the first of each, as ``_header`` reads them
            if name == b"authorization" and authorization is None:
                authorization = value
            elif name == b"x-api-key" and api_key is None:
                api_key = value
        if authorization is not None:
            if api_key is not None:
                return None
            scheme, _, credentials = authorization.decode("latin-1").strip().partition(" ")
            token = credentials.strip()
            if scheme.lower() != "bearer" or not token:
                return None
            if not token.startswith(API_KEY_PREFIX):
                try:
                    principal = self.identity.access_tokens.verify(token)
                except Unauthorized:
                    return None
                return self._remembered_standing(principal)
            key = token
        elif api_key is not None:
            key = api_key.decode("latin-1").strip()
        else:
            return None
        if not key.startswith(API_KEY_PREFIX) or len(key) > _MAX_KEY_LENGTH:
            return None
        cache = self.identity.api_keys
        resolved = cache.get(self._digest(key))
        if resolved is None or resolved.principal is None:
            return None
        principal = resolved.principal
        if resolved.expires_at is not None and resolved.expires_at <= utcnow():
            return None
        if principal.api_key_id is not None and cache.touch_is_due(principal.api_key_id):
            return None
        return principal

    async def _by_api_key(self, scope: Scope, api_key: str) -> Principal:
        if not api_key.startswith(API_KEY_PREFIX) or len(api_key) > _MAX_KEY_LENGTH:
            raise Unauthorized("The API key is not valid.")
        key_hash = self._digest(api_key)
        cache = self.identity.api_keys
        runtime: Runtime = scope["app"].state.runtime
        resolved = cache.get(key_hash)
        if resolved is None:
            generation = cache.generation
            resolved = await self._lookup(runtime, key_hash)
            cache.put(key_hash, resolved, generation=generation)
        principal = resolved.principal
        if principal is None:
            raise Unauthorized("The API key is not valid.")
        # Checked on every use, cached or not: a key stops at its expiry to the second.
        if resolved.expires_at is not None and resolved.expires_at <= utcnow():
            raise Unauthorized("The API key has expired.")
        if principal.api_key_id is not None and cache.due_for_touch(principal.api_key_id):
            self._record_use(runtime, principal)
        return principal

    def _remembered_standing(self, principal: Principal) -> Principal | None:
        """The signed-in member with their current role, when their standing is remembered
        and active; None otherwise (the full path reads it, or refuses)."""
        assert principal.user_id is not None  # access tokens always name their user
        standing = self.identity.members.get(principal.tenant_id, principal.user_id)
        if standing is None or standing.role is None or standing.disabled:
            return None
        return _acting(principal, standing.role)

    async def _signed_in(self, scope: Scope, principal: Principal) -> Principal:
        """An access token's member as they stand now: 401 once removed or disabled, and
        their current role, whatever the token says (standing.py)."""
        assert principal.user_id is not None  # access tokens always name their user
        members = self.identity.members
        standing = members.get(principal.tenant_id, principal.user_id)
        if standing is None:
            generation = members.generation
            runtime: Runtime = scope["app"].state.runtime
            standing = await self._read_standing(runtime, principal.tenant_id, principal.user_id)
            members.put(principal.tenant_id, principal.user_id, standing, generation=generation)
        if standing.role is None:
            raise Unauthorized("This account is no longer a member of the tenant.")
        if standing.disabled:
            raise Unauthorized("This account is disabled.")
        return _acting(principal, standing.role)

    async def _read_standing(self, runtime: Runtime, tenant_id: str, user_id: str) -> Standing:
        if runtime.sessions is None or not runtime.migrated.is_set():
            raise BackendUnavailable("The gateway's database is not ready yet.", retry_after=1)
        try:
            async with unit_of_work(runtime.sessions) as session:
                return await TenantService(session, self.identity).standing(tenant_id, user_id)
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            _log.warning("member lookup failed", error=repr(exc))
            raise BackendUnavailable(
                "The gateway's database did not answer.", retry_after=1
            ) from exc

    def _digest(self, api_key: str) -> str:
        """``digest(api_key)``, remembered for the keys seen lately: SHA-256 was most of the
        cost of checking a cached key, and the same keys come back request after request."""
        key_hash = self._digests.get(api_key)
        if key_hash is None:
            if len(self._digests) >= _REMEMBERED_DIGESTS:
                self._digests.clear()  # rare; hashing again is cheap
            key_hash = self._digests[api_key] = digest(api_key)
        return key_hash

    async def _lookup(self, runtime: Runtime, key_hash: str) -> ResolvedKey:
        if runtime.sessions is None or not runtime.migrated.is_set():
            raise BackendUnavailable("The gateway's database is not ready yet.", retry_after=1)
        try:
            async with unit_of_work(runtime.sessions) as session:
                return await ApiKeyService(session, self.identity).resolve(key_hash)
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            _log.warning("API key lookup failed", error=repr(exc))
            raise BackendUnavailable(
                "The gateway's database did not answer.", retry_after=1
            ) from exc

    def _record_use(self, runtime: Runtime, principal: Principal) -> None:
        sessions = runtime.sessions
        if sessions is None:
            return
        identity = self.identity

        async def record() -> None:
            # Best effort by design: a lost ``last_used_at`` is a hint a minute staler, so this
            # needs no job queue, only to stay off the request's path.
            try:
                async with unit_of_work(sessions) as session:
                    await ApiKeyService(session, identity).record_use(principal)
            except Exception as exc:
                _log.warning(
                    "could not record API key use", key_id=principal.api_key_id, error=repr(exc)
                )

        task = asyncio.create_task(record())
        self._touches.add(task)
        task.add_done_callback(self._touches.discard)

    async def close(self, _runtime: Runtime | None = None) -> None:
        """Let in-flight ``last_used_at`` writes finish before the database closes."""
        if self._touches:
            await asyncio.wait(self._touches, timeout=5)
