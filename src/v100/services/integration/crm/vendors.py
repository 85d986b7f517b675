"""What the sync needs of a CRM, whichever it is: the OAuth flow (``oauth.OAuthApp``), the
contacts changed since a cursor (page by page), creating and updating a contact, and logging an
activity on one. The vendor's answers become these types and errors:

    VendorError                 any other refusal (status, the vendor's code and message)
     ├── VendorRateLimited      HubSpot 429, Salesforce 403 REQUEST_LIMIT_EXCEEDED (retry_after)
     ├── VendorUnauthorized     the access token is expired or revoked (401): refresh, retry once
     ├── VendorGrantRefused     the token endpoint refused the code or the refresh token
     └── VendorConflict         a contact with this e-mail exists (HubSpot 409: its id)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

__all__ = [
    "ActivityNote",
    "ContactPage",
    "CrmVendor",
    "RemoteContact",
    "TokenSet",
    "VendorAccess",
    "VendorConflict",
    "VendorError",
    "VendorGrantRefused",
    "VendorRateLimited",
    "VendorUnauthorized",
]

ContactFields = dict[str, str | None]


@dataclass(frozen=True, slots=True)
class TokenSet:
    access_token: str
    refresh_token: str | None
    expires_at: datetime | None
    instance_url: str | None = None
    account_id: str | None = None


@dataclass(frozen=True, slots=True)
class VendorAccess:
    """What an API call is made with: the access token, and the org's API host (Salesforce)."""

    access_token: str
    instance_url: str | None = None


@dataclass(frozen=True, slots=True)
class RemoteContact:
    remote_id: str
    fields: ContactFields
    modified_at: datetime


@dataclass(frozen=True, slots=True)
class ContactPage:
    items: list[RemoteContact] = field(default_factory=list)
    # Where the next page starts (HubSpot's ``paging.next.after``, Salesforce's
    # ``nextRecordsUrl``); None on the last.
    next: str | None = None


@dataclass(frozen=True, slots=True)
class ActivityNote:
    subject: str
    body: str
    occurred_at: datetime


class VendorError(Exception):
    def __init__(self, status: int, message: str, code: str = "") -> None:
        super().__init__(f"{status} {code}: {message}".strip())
        self.status = status
        self.code = code
        self.message = message


class VendorRateLimited(VendorError):
    def __init__(self, status: int, message: str, code: str, retry_after: float | None) -> None:
        super().__init__(status, message, code)
        self.retry_after = retry_after


class VendorUnauthorized(VendorError):
    pass


class VendorGrantRefused(VendorError):
    pass


class VendorConflict(VendorError):
    def __init__(self, status: int, message: str, code: str, existing_id: str | None) -> None:
        super().__init__(status, message, code)
        self.existing_id = existing_id


class CrmVendor(Protocol):
    name: str

    def authorize_url(self, state: str, redirect_uri: str) -> str: ...

    async def exchange(self, code: str, redirect_uri: str, now: datetime) -> TokenSet: ...

    async def refresh(self, refresh_token: str, now: datetime) -> TokenSet: ...

    async def changed_contacts(
        self, access: VendorAccess, since: datetime | None, page: str | None, limit: int
    ) -> ContactPage:
        """Contacts modified at or after ``since`` (all when None), oldest change first."""
        ...

    async def create_contact(
        self, access: VendorAccess, fields: ContactFields
    ) -> RemoteContact: ...

    async def update_contact(
        self, access: VendorAccess, remote_id: str, fields: ContactFields
    ) -> RemoteContact: ...

    async def log_activity(
        self, access: VendorAccess, remote_contact_id: str, note: ActivityNote
    ) -> str:
        """The activity's id in the CRM."""
        ...

    async def aclose(self) -> None: ...
