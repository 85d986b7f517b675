"""A local fake of Salesforce's REST API as V100's CRM sync uses it, in Salesforce's documented
wire format: the OAuth 2 web-server flow (``POST /services/oauth2/token``, form-encoded; the
answer names ``instance_url`` and the identity ``id``, has no ``expires_in``, and a refresh
answer no new refresh token; errors ``{"error", "error_description"}``), SOQL queries on
Contact (``GET /services/data/vXX.X/query?q=``, ``WHERE LastModifiedDate >= <dateTime>`` with
the literal unquoted in one of SOQL's documented formats, else 400 ``MALFORMED_QUERY``;
``ORDER BY LastModifiedDate``, pages by ``nextRecordsUrl``/``done``), the Contact sObject (create
201 ``{"id", "success", "errors"}``, read, update 204; ``LastName`` required) and Tasks
(``WhoId``, ``ActivityDate`` a date, ``Status`` from its picklist); errors are a JSON list
``[{"message", "errorCode", "fields"}]``: ``INVALID_SESSION_ID`` (401),
``REQUEST_LIMIT_EXCEEDED`` (403), ``REQUIRED_FIELD_MISSING`` (400), ``NOT_FOUND`` (404). Where
each format is documented: docs/adr/0033-crm-sync.md, "Wire formats checked against".

    fake = FakeSalesforce()
    async with serving(fake.app) as base_url:
        fake.instance_url = base_url                   # the org's API lives here too
        callback = fake.auth.approve(authorize_url)
"""

from __future__ import annotations

import itertools
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from v100.kit.testing.fakes._oauth_tokens import TokenAuthority, form_of

__all__ = ["FakeSalesforce"]

VERSION = "v60.0"
_DATA = f"/services/data/{VERSION}"
_SINCE = re.compile(r"WHERE\s+LastModifiedDate\s*>=\s*(\S+)", re.IGNORECASE)
# SOQL's dateTime literals: YYYY-MM-DDThh:mm:ss followed by Z, +hh:mm or -hh:mm; no quotes and
# no fraction of a second.
_SOQL_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(Z|[+-]\d{2}:\d{2})$")
_TASK_STATUSES = ("Not Started", "In Progress", "Completed", "Waiting on someone else", "Deferred")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SELECT = re.compile(r"^SELECT\s+(.+?)\s+FROM\s+Contact\b", re.IGNORECASE)
_CONTACT_FIELDS = ("Email", "FirstName", "LastName", "Phone")


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def _parse_stamp(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z")


def _oauth_error(error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=400)


def _errors(status: int, code: str, message: str, fields: list[str] | None = None) -> JSONResponse:
    body = [{"message": message, "errorCode": code, "fields": fields or []}]
    return JSONResponse(body, status_code=status)


@dataclass
class FakeSalesforce:
    client_id: str = "salesforce-consumer-key"
    client_secret: str = "salesforce-consumer-secret"  # noqa: S105 - a test value
    org_id: str = "00D5g000001AbCdEAK"
    # Where the org's API is (the token answer's instance_url); set to the served URL.
    instance_url: str = "http://127.0.0.1"
    # Records per query page (Salesforce's batch size is a hint it may lower).
    page_size: int = 2000
    auth: TokenAuthority = field(init=False)
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    _cursors: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        self.auth = TokenAuthority(self.client_id, self.client_secret, access_lifetime=7200)
        self.app = Starlette(routes=[
            Route("/services/oauth2/token", self._token, methods=["POST"]),
            Route(f"{_DATA}/query", self._query, methods=["GET"]),
            Route(f"{_DATA}/query/{{locator}}", self._more, methods=["GET"]),
            Route(f"{_DATA}/sobjects/Contact", self._create_contact, methods=["POST"]),
            Route(f"{_DATA}/sobjects/Contact/{{id}}", self._contact, methods=["GET", "PATCH"]),
            Route(f"{_DATA}/sobjects/Task", self._create_task, methods=["POST"]),
        ])  # fmt: skip

    # -- what a test does on Salesforce's side -------------------------------------------------

    def add_contact(self, **fields: str) -> str:
        return str(self._store(fields)["Id"])

    def change_contact(self, contact_id: str, **fields: str) -> None:
        record = self.contacts[contact_id]
        record.update(fields)
        record["LastModifiedDate"] = _stamp(self.auth.now_datetime())

    def contact_by_email(self, email: str) -> dict[str, Any] | None:
        for record in self.contacts.values():
            if record.get("Email") == email:
                return dict(record)
        return None

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}5g00000{next(self._ids):08d}"

    def _store(self, fields: dict[str, Any]) -> dict[str, Any]:
        contact_id = self._new_id("003")
        record = {"Id": contact_id, **dict.fromkeys(_CONTACT_FIELDS), **fields,
                  "LastModifiedDate": _stamp(self.auth.now_datetime())}  # fmt: skip
        self.contacts[contact_id] = record
        return record

    # -- OAuth ---------------------------------------------------------------------------------

    async def _token(self, request: Request) -> JSONResponse:
        form = await form_of(request)
        if form.get("client_id") != self.client_id:
            return _oauth_error("invalid_client_id", "client identifier invalid")
        if not self.auth.client_ok(form):
            return _oauth_error("invalid_client", "invalid client credentials")
        issued = self.auth.redeem(form)
        if isinstance(issued, str):
            error, description = {
                "bad_code": ("invalid_grant", "invalid authorization code"),
                "bad_refresh": ("invalid_grant", "expired access/refresh token"),
            }.get(issued, ("unsupported_grant_type", "grant type not supported"))
            return _oauth_error(error, description)
        access, refresh = issued
        answer = {
            "access_token": f"{self.org_id}!{access}",
            "signature": secrets.token_urlsafe(16),
            "scope": "api refresh_token",
            "instance_url": self.instance_url,
            "id": f"{self.instance_url}/id/{self.org_id}/0055g00000AbCdEAAA",
            "token_type": "Bearer",
            "issued_at": str(int(self.auth.now() * 1000)),
        }
        # The authority knows the token without the org prefix.
        self.auth.access_tokens[answer["access_token"]] = self.auth.access_tokens.pop(access)
        if form.get("grant_type") == "authorization_code":
            answer["refresh_token"] = refresh
        return JSONResponse(answer)

    # -- the API -------------------------------------------------------------------------------

    def _gate(self, request: Request) -> JSONResponse | None:
        self.requests.append((request.method, request.url.path))
        if self.auth.take_rate_limit():
            return _errors(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
        if self.auth.check(request.headers.get("authorization", "")) is not None:
            return _errors(401, "INVALID_SESSION_ID", "Session expired or invalid")
        return None

    def _shaped(self, record: dict[str, Any], names: list[str] | None = None) -> dict[str, Any]:
        keep = names or ["Id", *_CONTACT_FIELDS, "LastModifiedDate"]
        shaped: dict[str, Any] = {"attributes": {
            "type": "Contact", "url": f"{_DATA}/sobjects/Contact/{record['Id']}"}}  # fmt: skip
        shaped.update({name: record.get(name) for name in keep})
        return shaped

    def _page(self, rows: list[dict[str, Any]], names: list[str], size: int) -> JSONResponse:
        page, rest = rows[:size], rows[size:]
        answer: dict[str, Any] = {"totalSize": len(rows), "done": not rest,
                                  "records": [self._shaped(r, names) for r in page]}  # fmt: skip
        if rest:
            locator = f"01g5g00000{secrets.token_hex(4)}-{len(page)}"
            self._cursors[locator] = rest
            answer["nextRecordsUrl"] = f"{_DATA}/query/{locator}"
        return JSONResponse(answer)

    def _batch(self, request: Request) -> int:
        options = request.headers.get("sforce-query-options", "")
        found = re.search(r"batchSize=(\d+)", options)
        asked = int(found.group(1)) if found else 2000
        return max(1, min(asked, self.page_size))

    async def _query(self, request: Request) -> Response:
        if (refused := self._gate(request)) is not None:
            return refused
        soql = request.query_params.get("q", "")
        selected = _SELECT.match(soql.strip())
        if selected is None:
            return _errors(400, "MALFORMED_QUERY", "unexpected token: the fake reads Contact only")
        names = [n.strip() for n in selected.group(1).split(",")]
        rows = list(self.contacts.values())
        since = _SINCE.search(soql)
        if since is not None:
            literal = since.group(1)
            if not _SOQL_DATETIME.match(literal):
                return _errors(400, "MALFORMED_QUERY", f"value of filter criterion for field "
                               f"'LastModifiedDate' must be of type dateTime and should not be "
                               f"enclosed in quotes: {literal}")  # fmt: skip
            bound = datetime.fromisoformat(literal.replace("Z", "+00:00"))
            rows = [r for r in rows if _parse_stamp(r["LastModifiedDate"]) >= bound]
        if "ORDER BY LASTMODIFIEDDATE" in soql.upper():
            rows.sort(key=lambda r: (_parse_stamp(r["LastModifiedDate"]), r["Id"]))
        self._cursors.clear()  # one open query at a time is all the sync needs
        return self._page(rows, names, self._batch(request))

    async def _more(self, request: Request) -> Response:
        if (refused := self._gate(request)) is not None:
            return refused
        rows = self._cursors.pop(request.path_params["locator"], None)
        if rows is None:
            return _errors(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return self._page(rows, ["Id", *_CONTACT_FIELDS, "LastModifiedDate"], self._batch(request))

    async def _json(self, request: Request) -> dict[str, Any] | JSONResponse:
        try:
            body = await request.json()
        except ValueError:
            return _errors(400, "JSON_PARSER_ERROR", "Unexpected character")
        if not isinstance(body, dict):
            return _errors(400, "JSON_PARSER_ERROR", "Expected an object")
        unknown = [k for k in body if k not in _CONTACT_FIELDS] if "WhoId" not in body else []
        if unknown:
            return _errors(400, "INVALID_FIELD", f"No such column '{unknown[0]}' on sobject "
                           "of type Contact")  # fmt: skip
        return body

    async def _create_contact(self, request: Request) -> Response:
        if (refused := self._gate(request)) is not None:
            return refused
        body = await self._json(request)
        if isinstance(body, JSONResponse):
            return body
        if not body.get("LastName"):
            return _errors(400, "REQUIRED_FIELD_MISSING", "Required fields are missing: [LastName]",
                           ["LastName"])  # fmt: skip
        record = self._store(body)
        return JSONResponse({"id": record["Id"], "success": True, "errors": []}, status_code=201)

    async def _contact(self, request: Request) -> Response:
        if (refused := self._gate(request)) is not None:
            return refused
        record = self.contacts.get(request.path_params["id"])
        if record is None:
            return _errors(404, "NOT_FOUND", "The requested resource does not exist")
        if request.method == "GET":
            names = [n for n in request.query_params.get("fields", "").split(",") if n]
            return JSONResponse(self._shaped(record, ["Id", *names] if names else None))
        body = await self._json(request)
        if isinstance(body, JSONResponse):
            return body
        if "LastName" in body and not body["LastName"]:
            return _errors(400, "REQUIRED_FIELD_MISSING", "Required fields are missing: [LastName]",
                           ["LastName"])  # fmt: skip
        self.change_contact(record["Id"], **body)
        return Response(status_code=204)

    async def _create_task(self, request: Request) -> Response:
        if (refused := self._gate(request)) is not None:
            return refused
        body = await self._json(request)
        if isinstance(body, JSONResponse):
            return body
        if body.get("WhoId") not in self.contacts:
            return _errors(400, "INVALID_CROSS_REFERENCE_KEY",
                           "invalid cross reference id", ["WhoId"])  # fmt: skip
        if "ActivityDate" in body and not _DATE.match(str(body["ActivityDate"])):
            return _errors(400, "JSON_PARSER_ERROR", "Cannot deserialize instance of date from "
                           f"VALUE_STRING value {body['ActivityDate']}")  # fmt: skip
        if body.get("Status", "Not Started") not in _TASK_STATUSES:
            return _errors(400, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                           f"Status: bad value for restricted picklist field: {body['Status']}",
                           ["Status"])  # fmt: skip
        task_id = self._new_id("00T")
        self.tasks[task_id] = {"Id": task_id, **body,
                               "CreatedDate": _stamp(self.auth.now_datetime())}  # fmt: skip
        return JSONResponse({"id": task_id, "success": True, "errors": []}, status_code=201)
