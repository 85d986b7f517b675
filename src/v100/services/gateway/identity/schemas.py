"""What the gateway's own endpoints accept and answer. Request models refuse unknown fields, so a
misspelt field is an error rather than silently ignored; answers never carry a stored secret."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from v100.contracts.scopes import is_grantable
from v100.kit.http import Listing
from v100.kit.text import Line

# NIST SP 800-63B asks for at least 8 characters and 15 for passwords used alone; 12 is the
# compromise most platforms settle on. The upper bound keeps Argon2's input sane.
PASSWORD_MIN_LENGTH = 12
PASSWORD_MAX_LENGTH = 1024

Email = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, max_length=320, pattern=r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$"
    ),
]
NewPassword = Annotated[str, Field(min_length=PASSWORD_MIN_LENGTH, max_length=PASSWORD_MAX_LENGTH)]
Name = Annotated[Line, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Role = Literal["owner", "admin", "member"]


def _grantable(scope: str) -> str:
    if not is_grantable(scope):
        raise ValueError(
            f"unknown scope {scope!r}: use '*', '<area>:*' or a scope listed in docs/api.md"
        )
    return scope


# "*", "<area>:*" or a tenant scope of contracts.scopes (never a platform scope).
Scope = Annotated[str, StringConstraints(max_length=60), AfterValidator(_grantable)]
OpaqueToken = Annotated[str, Field(min_length=1, max_length=200)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Answer(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# --- auth ---------------------------------------------------------------------------------


class SignupRequest(_Request):
    email: Email
    password: NewPassword
    tenant_name: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)
    ]


class LoginRequest(_Request):
    email: Annotated[str, Field(max_length=320)]
    # No minimum here: a short password is simply a wrong one.
    password: Annotated[str, Field(max_length=PASSWORD_MAX_LENGTH)]


class RefreshTokenRequest(_Request):
    refresh_token: OpaqueToken


class TenantOut(_Answer):
    id: str
    name: str
    tier: str
    created_at: datetime


class UserOut(_Answer):
    id: str
    tenant_id: str
    email: str
    role: Role
    disabled: bool
    created_at: datetime


class TokenResponse(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth 2 token type
    expires_in: int = Field(description="Seconds until the access token expires.")
    tenant: TenantOut
    user: UserOut


# --- API keys -----------------------------------------------------------------------------


class ApiKeyCreate(_Request):
    name: Name
    scopes: Annotated[list[Scope], Field(min_length=1, max_length=50)]
    expires_at: AwareDatetime | None = None


class ApiKeyOut(_Answer):
    id: str
    name: str
    prefix: str = Field(description="The key's first characters, to tell keys apart.")
    scopes: list[str]
    created_by: str | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The secret. Shown only in this answer; store it now.")


ApiKeyPage = Listing[ApiKeyOut]


# --- tenants and members ------------------------------------------------------------------


class MemberCreate(_Request):
    email: Email
    password: NewPassword
    role: Role = "member"


class MemberUpdate(_Request):
    role: Role | None = None
    disabled: bool | None = None

    @model_validator(mode="after")
    def _changes_something(self) -> MemberUpdate:
        if self.role is None and self.disabled is None:
            raise ValueError("give a role or disabled")
        return self


MemberPage = Listing[UserOut]


class MemberRemoved(BaseModel):
    user_id: str
    revoked_api_keys: list[ApiKeyOut] = Field(
        description="The keys the member had created, revoked with them (they acted with the "
        "member's role); make new ones where they were in use."
    )
