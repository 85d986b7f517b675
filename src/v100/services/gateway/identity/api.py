"""The gateway's own endpoints: ``/v1/auth`` (sign-up, login, refresh, logout), ``/v1/api-keys``
and ``/v1/tenants``. Thin: parse, check the caller's scope, call the service, shape the answer.
The caller was established by ``authn.AuthenticationMiddleware`` before any of this runs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Security
from fastapi.security import APIKeyHeader, HTTPBearer
from starlette.responses import Response

from v100.kit.auth import Principal
from v100.kit.http import Authorized, SessionDep, problem_response
from v100.services.gateway.identity.auth_throttle import AuthThrottle
from v100.services.gateway.identity.deps import IdentityDep, ThrottleDep
from v100.services.gateway.identity.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyOut,
    ApiKeyPage,
    LoginRequest,
    MemberCreate,
    MemberPage,
    MemberRemoved,
    MemberUpdate,
    RefreshTokenRequest,
    SignupRequest,
    TenantOut,
    TokenResponse,
    UserOut,
)
from v100.services.gateway.identity.service import (
    ApiKeyService,
    AuthService,
    RefreshTokenReused,
    SignedIn,
    TenantService,
)

ApiKeysRead = Annotated[Principal, Depends(Authorized("api-keys:read"))]
ApiKeysWrite = Annotated[Principal, Depends(Authorized("api-keys:write"))]
TenantsRead = Annotated[Principal, Depends(Authorized("tenants:read"))]
TenantsWrite = Annotated[Principal, Depends(Authorized("tenants:write"))]

__all__ = ["api_keys_router", "auth_router", "tenants_router"]


def _address(request: Request, throttle: AuthThrottle) -> str:
    return throttle.proxies.client_address(request.scope)


Limit = Annotated[int, Query(ge=1, le=200)]
Cursor = Annotated[str | None, Query(max_length=200)]

# Declared for the OpenAPI document only (auto_error off): the middleware has already
# authenticated the caller by the time a route runs.
_SECURED = [
    Security(HTTPBearer(auto_error=False, description="An access token from /v1/auth/login.")),
    Security(APIKeyHeader(name="X-API-Key", auto_error=False, description="v100_sk_...")),
]

auth_router = APIRouter(prefix="/v1/auth", tags=["auth"])
api_keys_router = APIRouter(prefix="/v1/api-keys", tags=["api keys"], dependencies=_SECURED)
tenants_router = APIRouter(prefix="/v1/tenants", tags=["tenants"], dependencies=_SECURED)


def _tokens(signed_in: SignedIn) -> TokenResponse:
    return TokenResponse(
        access_token=signed_in.access.token,
        refresh_token=signed_in.refresh_token,
        expires_in=signed_in.access.expires_in,
        tenant=TenantOut.model_validate(signed_in.tenant),
        user=UserOut.model_validate(signed_in.user),
    )


# --- /v1/auth -----------------------------------------------------------------------------


@auth_router.post("/signup", status_code=201)
async def signup(
    body: SignupRequest,
    request: Request,
    session: SessionDep,
    identity: IdentityDep,
    throttle: ThrottleDep,
) -> TokenResponse:
    """Create a tenant and its owner, and sign the owner in."""
    await throttle.signup(_address(request, throttle))
    service = AuthService(session, identity)
    return _tokens(await service.signup(body.email, body.password, body.tenant_name))


@auth_router.post("/login")
async def login(
    body: LoginRequest,
    request: Request,
    session: SessionDep,
    identity: IdentityDep,
    throttle: ThrottleDep,
) -> TokenResponse:
    """Sign in with email and password."""
    await throttle.login(_address(request, throttle), body.email)
    return _tokens(await AuthService(session, identity).login(body.email, body.password))


@auth_router.post("/refresh", response_model=TokenResponse)
async def refresh(
    body: RefreshTokenRequest,
    request: Request,
    session: SessionDep,
    identity: IdentityDep,
    throttle: ThrottleDep,
) -> TokenResponse | Response:
    """Trade a refresh token for new tokens; the presented one is spent."""
    await throttle.refresh(_address(request, throttle))
    outcome = await AuthService(session, identity).refresh(body.refresh_token)
    if isinstance(outcome, RefreshTokenReused):
        # Returned, not raised: raising would roll back the family's revocation.
        return problem_response(outcome, request.url.path)
    return _tokens(outcome)


@auth_router.post("/logout", status_code=204)
async def logout(body: RefreshTokenRequest, session: SessionDep, identity: IdentityDep) -> None:
    """End the login a refresh token belongs to."""
    await AuthService(session, identity).logout(body.refresh_token)


# --- /v1/api-keys -------------------------------------------------------------------------


@api_keys_router.post("", status_code=201)
async def create_api_key(
    body: ApiKeyCreate, principal: ApiKeysWrite, session: SessionDep, identity: IdentityDep
) -> ApiKeyCreated:
    """Create an API key; its secret is in this answer and nowhere else, ever."""
    key, secret = await ApiKeyService(session, identity).create(
        principal, name=body.name, scopes=body.scopes, expires_at=body.expires_at
    )
    return ApiKeyCreated(**ApiKeyOut.model_validate(key).model_dump(), key=secret)


@api_keys_router.get("")
async def list_api_keys(
    principal: ApiKeysRead,
    session: SessionDep,
    identity: IdentityDep,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> ApiKeyPage:
    """List the tenant's API keys, newest first, without their secrets."""
    page = await ApiKeyService(session, identity).list(principal, limit=limit, cursor=cursor)
    items = [ApiKeyOut.model_validate(key) for key in page.items]
    return ApiKeyPage(items=items, next_cursor=page.next_cursor)


@api_keys_router.delete("/{key_id}", status_code=204)
async def revoke_api_key(
    key_id: str, principal: ApiKeysWrite, session: SessionDep, identity: IdentityDep
) -> None:
    """Revoke an API key; it stops working at once."""
    await ApiKeyService(session, identity).revoke(principal, key_id)


# --- /v1/tenants --------------------------------------------------------------------------


@tenants_router.get("/current")
async def current_tenant(
    principal: TenantsRead, session: SessionDep, identity: IdentityDep
) -> TenantOut:
    """The caller's tenant and its tier."""
    return TenantOut.model_validate(await TenantService(session, identity).current(principal))


@tenants_router.get("/current/members")
async def list_members(
    principal: TenantsRead,
    session: SessionDep,
    identity: IdentityDep,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> MemberPage:
    """List the tenant's members, oldest first."""
    page = await TenantService(session, identity).members(principal, limit=limit, cursor=cursor)
    items = [UserOut.model_validate(user) for user in page.items]
    return MemberPage(items=items, next_cursor=page.next_cursor)


@tenants_router.post("/current/members", status_code=201)
async def add_member(
    body: MemberCreate, principal: TenantsWrite, session: SessionDep, identity: IdentityDep
) -> UserOut:
    """Add a user to the tenant with a role and an initial password."""
    user = await TenantService(session, identity).add_member(
        principal, email=body.email, password=body.password, role=body.role
    )
    return UserOut.model_validate(user)


@tenants_router.patch("/current/members/{user_id}")
async def update_member(
    user_id: str,
    body: MemberUpdate,
    principal: TenantsWrite,
    session: SessionDep,
    identity: IdentityDep,
) -> UserOut:
    """Change a member's role (owners only) or disable or enable them."""
    user = await TenantService(session, identity).update_member(
        principal, user_id, role=body.role, disabled=body.disabled
    )
    return UserOut.model_validate(user)


@tenants_router.delete("/current/members/{user_id}")
async def remove_member(
    user_id: str, principal: TenantsWrite, session: SessionDep, identity: IdentityDep
) -> MemberRemoved:
    """Remove a member: their tokens stop working within seconds, their logins end, and the API
    keys they created are revoked and listed, so they can be replaced."""
    revoked = await TenantService(session, identity).remove_member(principal, user_id)
    keys = [ApiKeyOut.model_validate(key) for key in revoked]
    return MemberRemoved(user_id=user_id, revoked_api_keys=keys)
