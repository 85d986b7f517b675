"""A local fake of HubSpot's API as V100's CRM sync uses it, in HubSpot's documented wire
format: OAuth 2 (``POST /oauth/v1/token``, form-encoded, ``authorization_code`` and
``refresh_token`` grants; ``GET /oauth/v1/access-tokens/{token}``), CRM v3 contacts (create,
read, update; ``POST .../contacts/search`` with filters, sorts, ``limit`` and ``after`` paging),
meetings with associations, errors ``{"status": "error", "message", "correlationId",
"category"}``, 401 for an expired token, 409 ``CONFLICT`` for a duplicate e-mail (the existing
id in the message), and 429 ``{"status": "error", "errorType": "RATE_LIMIT", "policyName"}``
(no ``category``) with ``Retry-After`` and the ``X-HubSpot-RateLimit-*`` headers. Search has
HubSpot's indexing lag when a test asks for it: a contact added with ``indexed=False`` is found
by id and by its e-mail's uniqueness, but not by the search until ``index()``. The formats and
where they are documented: docs/adr/0033-crm-sync.md, "Wire formats checked against".

    fake = FakeHubSpot()
    async with serving(fake.app) as base_url:
        callback = fake.auth.approve(authorize_url)       # the user says yes
        fake.auth.rate_limit_next(2)                      # the next two calls answer 429
        fake.change_contact(contact_id, firstname="Ada")  # edited in HubSpot: modified now
        fake.add_contact(email="x@example.com", indexed=False)  # not in search results yet
"""

from __future__ import annotations

import itertools
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from v100.kit.testing.fakes._oauth_tokens import TokenAuthority, form_of

__all__ = ["FakeHubSpot"]

# HubSpot-defined association type "meeting to contact".
_ASSOCIATION_MEETING_TO_CONTACT = 200
_MEETING_OUTCOMES = {"SCHEDULED", "COMPLETED", "RESCHEDULED", "NO_SHOW", "CANCELED"}
# A datetime property value: epoch milliseconds, or ISO 8601 in UTC (HubSpot's own format is
# ``2019-10-30T03:30:17.883Z``).
_ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$")
_DATE_PROPERTIES = ("lastmodifieddate", "hs_lastmodifieddate", "createdate")


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _error(status: int, message: str, category: str, **extra: Any) -> JSONResponse:
    body = {"status": "error", "message": message, "correlationId": str(uuid.uuid4()),
            "category": category, **extra}  # fmt: skip
    return JSONResponse(body, status_code=status)


def _rate_limited(policy: str, retry_after: float) -> JSONResponse:
    """HubSpot's 429: ``errorType`` and ``policyName``, no ``category``."""
    body = {"status": "error", "message": f"You have reached your {policy.lower()} limit.",
            "errorType": "RATE_LIMIT", "correlationId": str(uuid.uuid4()),
            "policyName": policy, "requestId": uuid.uuid4().hex}  # fmt: skip
    response = JSONResponse(body, status_code=429)
    response.headers["Retry-After"] = f"{retry_after:g}"
    response.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] = "10000"
    response.headers["X-HubSpot-RateLimit-Max"] = "100"
    response.headers["X-HubSpot-RateLimit-Remaining"] = "0"
    return response


def _millis_of(value: object) -> int | None:
    """A datetime property or filter value (epoch milliseconds or ISO 8601 UTC) as epoch
    milliseconds; None when it is neither."""
    text = str(value)
    if text.isdigit():
        return int(text)
    if _ISO_UTC.match(text):
        return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)
    return None


@dataclass
class FakeHubSpot:
    client_id: str = "hubspot-client-id"
    client_secret: str = "hubspot-client-secret"  # noqa: S105 - a test value
    hub_id: int = 4242
    # Seconds the 429 asks to wait.
    retry_after: float = 1.0
    auth: TokenAuthority = field(init=False)
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    meetings: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Each meeting's associated contact ids (what GET .../meetings/{id}?associations=contacts
    # would list; the create answer does not carry them).
    meeting_contacts: dict[str, list[str]] = field(default_factory=dict)
    # Contacts the search does not find yet (HubSpot's search index lags behind writes).
    unindexed: set[str] = field(default_factory=set)
    # Every API call that reached a handler: (method, path).
    requests: list[tuple[str, str]] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(51))

    def __post_init__(self) -> None:
        self.auth = TokenAuthority(self.client_id, self.client_secret)
        self.app = Starlette(routes=[
            Route("/oauth/v1/token", self._token, methods=["POST"]),
            Route("/oauth/v1/access-tokens/{token}", self._token_info, methods=["GET"]),
            Route("/crm/v3/objects/contacts", self._create_contact, methods=["POST"]),
            Route("/crm/v3/objects/contacts/search", self._search, methods=["POST"]),
            Route("/crm/v3/objects/contacts/{id}", self._contact, methods=["GET", "PATCH"]),
            Route("/crm/v3/objects/meetings", self._create_meeting, methods=["POST"]),
        ])  # fmt: skip

    # -- what a test does on HubSpot's side ----------------------------------------------------

    def add_contact(self, *, indexed: bool = True, **properties: str) -> str:
        """A contact made in HubSpot (its properties: email, firstname, lastname, phone);
        ``indexed=False``: not in search results until ``index()``."""
        contact_id = str(self._store(properties)["id"])
        if not indexed:
            self.unindexed.add(contact_id)
        return contact_id

    def index(self) -> None:
        """HubSpot's search index catches up."""
        self.unindexed.clear()

    def change_contact(self, contact_id: str, **properties: str) -> None:
        """A contact edited in HubSpot: its last-modified time becomes now."""
        record = self.contacts[contact_id]
        record["properties"].update(properties)
        self._touch(record)

    def contact_by_email(self, email: str) -> dict[str, str | None] | None:
        for record in self.contacts.values():
            if record["properties"].get("email") == email:
                return dict(record["properties"])
        return None

    # -- OAuth ---------------------------------------------------------------------------------

    async def _token(self, request: Request) -> JSONResponse:
        form = await form_of(request)
        if not self.auth.client_ok(form):
            return _token_refused("BAD_CLIENT_ID", "missing or invalid client id")
        issued = self.auth.redeem(form)
        if isinstance(issued, str):
            status, message = {
                "bad_code": ("BAD_AUTH_CODE", "missing or unknown auth code"),
                "bad_refresh": ("BAD_REFRESH_TOKEN", "missing or invalid refresh token"),
            }.get(issued, ("BAD_GRANT_TYPE", "unsupported grant type"))
            return _token_refused(status, message)
        access, refresh = issued
        return JSONResponse({"token_type": "bearer", "access_token": access,
                             "refresh_token": refresh,
                             "expires_in": int(self.auth.access_lifetime)})  # fmt: skip

    async def _token_info(self, request: Request) -> JSONResponse:
        token = request.path_params["token"]
        if self.auth.check(f"Bearer {token}") is not None:
            return _error(404, "Token not found", "OBJECT_NOT_FOUND")
        return JSONResponse(
            {
                "token": token,
                "user": "owner@example.com",
                "hub_domain": f"demo-{self.hub_id}.hubspot.test",
                "scopes": ["crm.objects.contacts.read", "crm.objects.contacts.write", "oauth"],
                "hub_id": self.hub_id,
                "app_id": 1,
                "expires_in": int(self.auth.access_tokens[token] - self.auth.now()),
                "user_id": 7,
                "token_type": "access",
            }
        )

    # -- the API -------------------------------------------------------------------------------

    def _gate(self, request: Request) -> JSONResponse | None:
        self.requests.append((request.method, request.url.path))
        if self.auth.take_rate_limit():
            # The search endpoints have their own per-second limit; the rest share the
            # app's ten-second one.
            searching = request.url.path.endswith("/search")
            policy = "SECONDLY" if searching else "TEN_SECONDLY_ROLLING"
            return _rate_limited(policy, self.retry_after)
        authorization = request.headers.get("authorization", "")
        refused = self.auth.check(authorization)
        if refused == "expired":
            token = authorization.removeprefix("Bearer ").strip()
            ago = max(0, int(self.auth.now() - self.auth.access_tokens[token]))
            return _error(401, f"The OAuth token used to make this call expired {ago} second(s)"
                          " ago.", "EXPIRED_AUTHENTICATION")  # fmt: skip
        if refused is not None:
            return _error(401, "Authentication credentials not found. This API supports OAuth 2.0"
                          " authentication.", "INVALID_AUTHENTICATION")  # fmt: skip
        return None

    def _touch(self, record: dict[str, Any]) -> None:
        moment = _iso(self.auth.now_datetime())
        record["updatedAt"] = moment
        record["properties"]["lastmodifieddate"] = moment
        record["properties"]["hs_lastmodifieddate"] = moment

    def _store(self, properties: dict[str, str]) -> dict[str, Any]:
        contact_id = str(next(self._ids))
        moment = _iso(self.auth.now_datetime())
        record = {"id": contact_id, "properties": {**properties, "hs_object_id": contact_id,
                  "createdate": moment}, "createdAt": moment, "archived": False}  # fmt: skip
        self._touch(record)
        self.contacts[contact_id] = record
        return record

    def _holder_of(self, email: str | None) -> str | None:
        """The contact that has this e-mail (HubSpot's contacts are unique by e-mail, whatever
        its case)."""
        if not email:
            return None
        for record in self.contacts.values():
            if str(record["properties"].get("email") or "").lower() == email.lower():
                return str(record["id"])
        return None

    @staticmethod
    def _shaped(record: dict[str, Any], names: list[str] | None = None) -> dict[str, Any]:
        properties = record["properties"]
        keep = set(names or ["email", "firstname", "lastname"]) | {
            "hs_object_id", "createdate", "lastmodifieddate"}  # fmt: skip
        return {**record, "properties": {k: properties.get(k) for k in sorted(keep)},
                "updatedAt": record["updatedAt"]}  # fmt: skip

    async def _body(self, request: Request) -> dict[str, Any] | JSONResponse:
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "Invalid input JSON", "VALIDATION_ERROR")
        if not isinstance(body, dict):
            return _error(400, "Invalid input JSON", "VALIDATION_ERROR")
        return body

    async def _create_contact(self, request: Request) -> Response:
        if (refused := self._gate(request)) is not None:
            return refused
        body = await self._body(request)
        if isinstance(body, JSONResponse):
            return body
        properties = {k: str(v) for k, v in (body.get("properties") or {}).items()}
        if (existing := self._holder_of(properties.get("email"))) is not None:
            return _error(409, f"Contact already exists. Existing ID: {existing}", "CONFLICT")
        record = self._store(properties)
        return JSONResponse(self._shaped(record, list(properties)), status_code=201)

    async def _contact(self, request: Request) -> Response:
        if (refused := self._gate(request)) is not None:
            return refused
        record = self.contacts.get(request.path_params["id"])
        if record is None:
            return _error(404, "resource not found", "OBJECT_NOT_FOUND")
        if request.method == "GET":
            names = request.query_params.get("properties", "").split(",")
            return JSONResponse(self._shaped(record, [n for n in names if n]))
        body = await self._body(request)
        if isinstance(body, JSONResponse):
            return body
        properties = {k: str(v) for k, v in (body.get("properties") or {}).items()}
        existing = self._holder_of(properties.get("email"))
        if existing is not None and existing != record["id"]:
            return _error(409, f"Contact already exists. Existing ID: {existing}", "CONFLICT")
        record["properties"].update(properties)
        self._touch(record)
        return JSONResponse(self._shaped(record, list(properties)))

    async def _search(self, request: Request) -> Response:
        if (refused := self._gate(request)) is not None:
            return refused
        body = await self._body(request)
        if isinstance(body, JSONResponse):
            return body
        limit = int(body.get("limit", 10))
        if not 1 <= limit <= 200:
            return _error(400, "limit must be between 1 and 200", "VALIDATION_ERROR")
        rows = [r for r in self.contacts.values() if r["id"] not in self.unindexed]
        groups = body.get("filterGroups") or []
        for group in groups:
            for condition in group.get("filters") or []:
                name = condition.get("propertyName")
                if name in _DATE_PROPERTIES and _millis_of(condition.get("value")) is None:
                    return _error(400, f"{condition.get('value')!r} is not a valid date-time "
                                  f"for {name}", "VALIDATION_ERROR")  # fmt: skip
        if groups:
            # Filters within a group are ANDed, the groups ORed.
            rows = [
                r
                for r in rows
                if any(all(_holds(r, c) for c in g.get("filters") or []) for g in groups)
            ]
        for sort in reversed(body.get("sorts") or []):
            name = str(sort["propertyName"])

            def order(record: dict[str, Any], name: str = name) -> tuple[str, int]:
                return _value(record, name), int(record["id"])

            rows.sort(key=order, reverse=sort.get("direction") == "DESCENDING")
        start = int(body.get("after") or 0)
        page = rows[start : start + limit]
        answer: dict[str, Any] = {
            "total": len(rows),
            "results": [self._shaped(r, body.get("properties")) for r in page],
        }
        if start + limit < len(rows):
            answer["paging"] = {"next": {"after": str(start + limit)}}
        return JSONResponse(answer)

    async def _create_meeting(self, request: Request) -> Response:
        if (refused := self._gate(request)) is not None:
            return refused
        body = await self._body(request)
        if isinstance(body, JSONResponse):
            return body
        properties = {k: str(v) for k, v in (body.get("properties") or {}).items()}
        if "hs_timestamp" not in properties:
            return _error(400, "Property values were not valid: hs_timestamp is required",
                          "VALIDATION_ERROR")  # fmt: skip
        if _millis_of(properties["hs_timestamp"]) is None:
            return _error(400, f"Property values were not valid: {properties['hs_timestamp']!r} "
                          "is not a valid hs_timestamp", "VALIDATION_ERROR")  # fmt: skip
        outcome = properties.get("hs_meeting_outcome")
        if outcome is not None and outcome not in _MEETING_OUTCOMES:
            return _error(400, f"Property values were not valid: {outcome!r} is not a valid "
                          "option for hs_meeting_outcome", "VALIDATION_ERROR")  # fmt: skip
        targets = []
        for association in body.get("associations") or []:
            target = str((association.get("to") or {}).get("id"))
            types = [(t.get("associationCategory"), t.get("associationTypeId"))
                     for t in association.get("types") or []]  # fmt: skip
            if target not in self.contacts or (
                ("HUBSPOT_DEFINED", _ASSOCIATION_MEETING_TO_CONTACT) not in types
            ):
                return _error(400, f"Invalid association to {target}", "VALIDATION_ERROR")
            targets.append(target)
        meeting_id = str(next(self._ids))
        moment = _iso(self.auth.now_datetime())
        self.meetings[meeting_id] = {
            "id": meeting_id, "properties": {**properties, "hs_object_id": meeting_id,
            "hs_createdate": moment, "hs_lastmodifieddate": moment},
            "createdAt": moment, "updatedAt": moment, "archived": False,
        }  # fmt: skip
        self.meeting_contacts[meeting_id] = targets
        return JSONResponse(self.meetings[meeting_id], status_code=201)


def _token_refused(status: str, message: str) -> JSONResponse:
    """The token endpoint's refusal: HubSpot's own ``status`` code, not OAuth's ``error``."""
    return JSONResponse({"status": status, "message": message,
                         "correlationId": str(uuid.uuid4())}, status_code=400)  # fmt: skip


def _value(record: dict[str, Any], name: str) -> str:
    return str(record["properties"].get(name) or "")


def _holds(record: dict[str, Any], condition: dict[str, Any]) -> bool:
    name, operator, wanted = (
        condition["propertyName"],
        condition["operator"],
        condition.get("value"),
    )
    have = record["properties"].get(name)
    if name in _DATE_PROPERTIES:
        # Date properties compare as epoch milliseconds, whichever way the value was written.
        left, right = (_millis_of(have) or 0) if have else 0, _millis_of(wanted) or 0
    else:
        left, right = str(have or ""), str(wanted)  # type: ignore[assignment]
    return {
        "EQ": left == right,
        "NEQ": left != right,
        "GT": left > right,
        "GTE": left >= right,
        "LT": left < right,
        "LTE": left <= right,
    }[operator]
