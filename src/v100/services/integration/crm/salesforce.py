"""Salesforce through its documented REST API: OAuth 2 web-server flow (``/services/oauth2/``,
the API host is the token answer's ``instance_url``), SOQL on ``LastModifiedDate`` paged by
``nextRecordsUrl``, the Contact sObject (create 201, update 204) and Tasks on a contact
(``WhoId``). Errors are a JSON list ``[{"message", "errorCode", "fields"}]``:
``INVALID_SESSION_ID`` (401), ``REQUEST_LIMIT_EXCEEDED`` (403). Where each format is
documented: ADR 0033."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

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
    VendorError,
    VendorRateLimited,
    VendorUnauthorized,
)

__all__ = ["Salesforce", "soql_datetime"]

FIELDS = {"email": "Email", "first_name": "FirstName", "last_name": "LastName",
          "phone": "Phone"}  # fmt: skip
_SELECT = "SELECT Id, Email, FirstName, LastName, Phone, LastModifiedDate FROM Contact"


def soql_datetime(value: datetime) -> str:
    """A SOQL dateTime literal: unquoted, UTC, ``YYYY-MM-DDThh:mm:ssZ`` (SOQL's documented
    formats have no fraction of a second). The fraction is dropped, so a ``>=`` bound made from
    it is at or before ``value``: the cursor stays inclusive, and the records of its boundary
    second read again are recognised as seen."""
    moment = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_datetime(value: str) -> datetime:
    """Salesforce's ``2026-12-07T10:00:00.000+0000``."""
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z").astimezone(UTC)


def _contact(record: dict[str, Any]) -> RemoteContact:
    return RemoteContact(
        remote_id=str(record["Id"]),
        fields={ours: record.get(theirs) or None for ours, theirs in FIELDS.items()},
        modified_at=parse_datetime(record["LastModifiedDate"]),
    )


class Salesforce:
    name = "salesforce"

    def __init__(self, oauth: OAuthApp, api_version: str, timeout: float) -> None:
        self.oauth = oauth
        self.version = api_version
        self.http = VendorHttp(timeout)

    def authorize_url(self, state: str, redirect_uri: str) -> str:
        return self.oauth.authorize_url(state, redirect_uri)

    async def exchange(self, code: str, redirect_uri: str, now: datetime) -> TokenSet:
        answer = await self.oauth.exchange(code, redirect_uri, now)
        # ``id`` is the identity URL: .../id/<organization id>/<user id>
        parts = urlsplit(str(answer.get("id") or "")).path.strip("/").split("/")
        org = parts[1] if len(parts) >= 3 and parts[0] == "id" else None
        return self.oauth.token_set(
            answer, now, instance_url=str(answer["instance_url"]), account_id=org
        )

    async def refresh(self, refresh_token: str, now: datetime) -> TokenSet:
        answer = await self.oauth.refresh(refresh_token)
        return self.oauth.token_set(answer, now, instance_url=answer.get("instance_url"))

    def _data(self, access: VendorAccess, path: str) -> str:
        if not access.instance_url:
            raise VendorError(0, "the connection has no instance_url")
        return f"{access.instance_url.rstrip('/')}/services/data/{self.version}{path}"

    async def changed_contacts(
        self, access: VendorAccess, since: datetime | None, page: str | None, limit: int
    ) -> ContactPage:
        headers = {"Sforce-Query-Options": f"batchSize={max(200, limit)}"}
        if page is not None:
            # nextRecordsUrl is a path on the instance: never follow one to another host.
            if not page.startswith(f"/services/data/{self.version}/query/"):
                raise VendorError(0, "an unexpected nextRecordsUrl")
            url = f"{(access.instance_url or '').rstrip('/')}{page}"
            answer = await self._call("GET", url, access, headers=headers)
        else:
            where = "" if since is None else f" WHERE LastModifiedDate >= {soql_datetime(since)}"
            soql = f"{_SELECT}{where} ORDER BY LastModifiedDate ASC, Id ASC"
            answer = await self._call(
                "GET", self._data(access, "/query"), access, params={"q": soql}, headers=headers
            )
        records = [_contact(r) for r in answer.get("records", [])]
        return ContactPage(records, None if answer.get("done", True) else answer["nextRecordsUrl"])

    async def _read(self, access: VendorAccess, remote_id: str) -> RemoteContact:
        fields = ",".join([*FIELDS.values(), "LastModifiedDate"])
        url = self._data(access, f"/sobjects/Contact/{remote_id}")
        record = await self._call("GET", url, access, params={"fields": fields})
        return _contact({"Id": remote_id, **record})

    async def create_contact(self, access: VendorAccess, fields: ContactFields) -> RemoteContact:
        url = self._data(access, "/sobjects/Contact")
        created = await self._call("POST", url, access, json=self._record(fields))
        return await self._read(access, str(created["id"]))

    async def update_contact(
        self, access: VendorAccess, remote_id: str, fields: ContactFields
    ) -> RemoteContact:
        url = self._data(access, f"/sobjects/Contact/{remote_id}")
        await self._call("PATCH", url, access, json=self._record(fields))
        # 204 carries nothing: read the new LastModifiedDate back.
        return await self._read(access, remote_id)

    async def log_activity(
        self, access: VendorAccess, remote_contact_id: str, note: ActivityNote
    ) -> str:
        body = {
            "WhoId": remote_contact_id,
            "Subject": note.subject[:255],
            "Description": note.body,
            "ActivityDate": note.occurred_at.astimezone(UTC).date().isoformat(),
            "Status": "Completed",
        }
        created = await self._call("POST", self._data(access, "/sobjects/Task"), access, json=body)
        return str(created["id"])

    async def aclose(self) -> None:
        await self.http.aclose()

    @staticmethod
    def _record(fields: ContactFields) -> dict[str, str | None]:
        return {FIELDS[name]: value for name, value in fields.items()}

    async def _call(
        self, method: str, url: str, access: VendorAccess, *, json: Any = None,
        params: dict[str, str] | None = None, headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        response = await self.http.request(
            method, url, access.access_token, json=json, params=params, headers=headers
        )
        if response.status_code == 204:
            return {}
        if response.is_success:
            return dict(response.json())
        raise self._error(response)

    @staticmethod
    def _error(response: httpx.Response) -> VendorError:
        try:
            errors = response.json()
        except ValueError:
            errors = []
        first = errors[0] if isinstance(errors, list) and errors else {}
        if not isinstance(first, dict):
            first = {}
        code = str(first.get("errorCode") or "")
        message = str(first.get("message") or response.reason_phrase)
        status = response.status_code
        if code == "REQUEST_LIMIT_EXCEEDED" or status == 429:
            return VendorRateLimited(status, message, code, retry_after_seconds(response))
        if status == 401:
            return VendorUnauthorized(status, message, code)
        return VendorError(status, message, code)
