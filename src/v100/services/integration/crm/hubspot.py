"""HubSpot through its documented REST API: OAuth 2 (``/oauth/v1/token``), CRM v3 contacts
(search on ``lastmodifieddate`` with ``after`` paging, create, update) and meetings associated
with a contact. Errors are ``{"status": "error", "message", "correlationId", "category"}``; a
429 has ``errorType``/``policyName`` instead of ``category``, and ``Retry-After`` when HubSpot
sends it (else the sync backs off by doubling). Where each format is documented: ADR 0033."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import httpx

from v100.services.integration.crm._http import VendorHttp, retry_after_seconds
from v100.services.integration.crm.oauth import OAuthApp
from v100.services.integration.crm.vendors import (
    ActivityNote,
    ContactFields,
    ContactPage,
    RemoteContact,
    TokenSet,
    VendorAccess,
    VendorConflict,
    VendorError,
    VendorRateLimited,
    VendorUnauthorized,
)

__all__ = ["HubSpot", "hubspot_datetime"]

# Our field -> HubSpot's contact property.
PROPERTIES = {"email": "email", "first_name": "firstname", "last_name": "lastname",
              "phone": "phone"}  # fmt: skip
# HubSpot's association type "meeting to contact" (HUBSPOT_DEFINED).
MEETING_TO_CONTACT = 200
_EXISTING_ID = re.compile(r"Existing ID:\s*(\d+)")


def hubspot_datetime(value: datetime) -> str:
    """A datetime property value as HubSpot writes them: UTC, milliseconds,
    ``2019-10-30T03:30:17.883Z``."""
    moment = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _contact(record: dict[str, Any]) -> RemoteContact:
    properties = record.get("properties") or {}
    modified = (
        properties.get("lastmodifieddate")
        or properties.get("hs_lastmodifieddate")
        or record["updatedAt"]
    )
    return RemoteContact(
        remote_id=str(record["id"]),
        fields={ours: properties.get(theirs) or None for ours, theirs in PROPERTIES.items()},
        modified_at=_time(modified),
    )


class HubSpot:
    name = "hubspot"

    def __init__(self, oauth: OAuthApp, api_url: str, timeout: float) -> None:
        self.oauth = oauth
        self.api_url = api_url.rstrip("/")
        self.http = VendorHttp(timeout)

    def authorize_url(self, state: str, redirect_uri: str) -> str:
        return self.oauth.authorize_url(state, redirect_uri)

    async def exchange(self, code: str, redirect_uri: str, now: datetime) -> TokenSet:
        answer = await self.oauth.exchange(code, redirect_uri, now)
        info = await self._json(
            await self.http.request(
                "GET", f"{self.api_url}/oauth/v1/access-tokens/{answer['access_token']}",
                answer["access_token"],
            )
        )  # fmt: skip
        hub = info.get("hub_id")
        return self.oauth.token_set(answer, now, account_id=None if hub is None else str(hub))

    async def refresh(self, refresh_token: str, now: datetime) -> TokenSet:
        return self.oauth.token_set(await self.oauth.refresh(refresh_token), now)

    async def changed_contacts(
        self, access: VendorAccess, since: datetime | None, page: str | None, limit: int
    ) -> ContactPage:
        body: dict[str, Any] = {
            "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
            "properties": [*PROPERTIES.values(), "lastmodifieddate"],
            "limit": limit,
        }
        if since is not None:
            millis = str(int(since.timestamp() * 1000))
            body["filterGroups"] = [{"filters": [
                {"propertyName": "lastmodifieddate", "operator": "GTE", "value": millis}
            ]}]  # fmt: skip
        if page is not None:
            body["after"] = page
        answer = await self._call("POST", "/crm/v3/objects/contacts/search", access, body)
        after = ((answer.get("paging") or {}).get("next") or {}).get("after")
        return ContactPage([_contact(r) for r in answer.get("results", [])], after)

    async def create_contact(self, access: VendorAccess, fields: ContactFields) -> RemoteContact:
        body = {"properties": self._properties(fields)}
        return _contact(await self._call("POST", "/crm/v3/objects/contacts", access, body))

    async def update_contact(
        self, access: VendorAccess, remote_id: str, fields: ContactFields
    ) -> RemoteContact:
        body = {"properties": self._properties(fields)}
        path = f"/crm/v3/objects/contacts/{remote_id}"
        return _contact(await self._call("PATCH", path, access, body))

    async def log_activity(
        self, access: VendorAccess, remote_contact_id: str, note: ActivityNote
    ) -> str:
        body = {
            "properties": {
                "hs_timestamp": hubspot_datetime(note.occurred_at),
                "hs_meeting_title": note.subject,
                "hs_meeting_body": note.body,
                "hs_meeting_outcome": "COMPLETED",
            },
            "associations": [{
                "to": {"id": remote_contact_id},
                "types": [{"associationCategory": "HUBSPOT_DEFINED",
                           "associationTypeId": MEETING_TO_CONTACT}],
            }],
        }  # fmt: skip
        return str((await self._call("POST", "/crm/v3/objects/meetings", access, body))["id"])

    async def aclose(self) -> None:
        await self.http.aclose()

    @staticmethod
    def _properties(fields: ContactFields) -> dict[str, str]:
        # HubSpot clears a property set to "".
        return {PROPERTIES[name]: value or "" for name, value in fields.items()}

    async def _call(
        self, method: str, path: str, access: VendorAccess, body: Any
    ) -> dict[str, Any]:
        response = await self.http.request(
            method, f"{self.api_url}{path}", access.access_token, json=body
        )
        return await self._json(response)

    @staticmethod
    async def _json(response: httpx.Response) -> dict[str, Any]:
        if response.is_success:
            return dict(response.json())
        try:
            error = response.json()
        except ValueError:
            error = {}
        if not isinstance(error, dict):
            error = {}
        message = str(error.get("message") or response.reason_phrase)
        category = str(error.get("category") or error.get("errorType") or "")
        status = response.status_code
        if status == 429:
            raise VendorRateLimited(status, message, category, retry_after_seconds(response))
        if status == 401:
            raise VendorUnauthorized(status, message, category)
        if status == 409 and (found := _EXISTING_ID.search(message)):
            raise VendorConflict(status, message, category, found.group(1))
        raise VendorError(status, message, category)
