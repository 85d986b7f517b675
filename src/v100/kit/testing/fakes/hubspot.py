"""A local fake of HubSpot's API as V100's CRM sync uses it, in HubSpot's documented wire
format: OAuth 2 (``POST /oauth/v1/token``, form-encoded, ``authorization_code`` and
``refresh_token`` grants; ``GET /oauth/v1/access-tokens/{token}``), CRM v3 contacts (create,
read, update; ``POST .../contacts/search`` with filters, sorts, ``limit`` and ``after`` paging),
meetings with associations, errors ``{"status": "error", "message", "correlationId",
"category"}``, 401 for an expired token, 409 for a duplicate e-mail, and 429 ``RATE_LIMITS``
with ``Retry-After``.

    fake = FakeHubSpot()
    async with serving(fake.app) as base_url:
        callback = fake.auth.approve(authorize_url)       # the user says yes
        fake.auth.rate_limit_next(2)                      # the next two calls answer 429
        fake.change_contact(contact_id, firstname="Ada")  # edited in HubSpot: modified now
"""

from __future__ import annotations

import itertools
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

_ASSOCIATION_MEETING_TO_CONTACT = 200


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _error(status: int, message: str, category: str, **extra: Any) -> JSONResponse:
    body = {"status": "error", "message": message, "correlationId": str(uuid.uuid4()),
            "category": category, **extra}  # fmt: skip
    return JSONResponse(body, status_code=status)


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

    def add_contact(self, **properties: str) -> str:
        """A contact made in HubSpot (its properties: email, firstname, lastname, phone)."""
        return str(self._store(properties)["id"])

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
            return JSONResponse({"status": "BAD_CLIENT_ID", "message": "missing or invalid client",
                                 "correlationId": str(uuid.uuid4())}, status_code=400)  # fmt: skip
        issued = self.auth.redeem(form)
        if isinstance(issued, str):
            status = {"bad_code": "BAD_AUTH_CODE", "bad_refresh": "BAD_REFRESH_TOKEN"}.get(
                issued, "BAD_GRANT_TYPE"
            )
            return JSONResponse({"status": status, "message": f"{issued.replace('_', ' ')}",
                                 "correlationId": str(uuid.uuid4())}, status_code=400)  # fmt: skip
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
                "hub_id": self.hub_id,
                "app_id": 1,
                "scopes": ["crm.objects.contacts.read"],
                "token_type": "access",
                "expires_in": int(self.auth.access_tokens[token] - self.auth.now()),
            }
        )

    # -- the API -------------------------------------------------------------------------------

    def _gate(self, request: Request) -> JSONResponse | None:
        self.requests.append((request.method, request.url.path))
        if self.auth.take_rate_limit():
            response = _error(429, "You have reached your secondly limit.", "RATE_LIMITS",
                              errorType="RATE_LIMIT", policyName="SECONDLY")  # fmt: skip
            response.headers["Retry-After"] = f"{self.retry_after:g}"
            return response
        refused = self.auth.check(request.headers.get("authorization", ""))
        if refused == "expired":
            return _error(401, "The OAuth token used to make this call expired.",
                          "EXPIRED_AUTHENTICATION")  # fmt: skip
        if refused is not None:
            return _error(401, "Authentication credentials not found.", "INVALID_AUTHENTICATION")
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
        email = properties.get("email")
        for record in self.contacts.values():
            if email and record["properties"].get("email") == email:
                return _error(409, f"Contact already exists. Existing ID: {record['id']}",
                              "CONFLICT")  # fmt: skip
        record = self._store(properties)
        return JSONResponse(self._shaped(record, list(properties)), status_code=201)

    async def _contact(self, request: Request) -> Response:
        if (refused := self._gate(request)) is not None:
            return refused
        record = self.contacts.get(request.path_params["id"])
        if record is None:
            return _error(404, "Object not found.", "OBJECT_NOT_FOUND")
        if request.method == "GET":
            names = request.query_params.get("properties", "").split(",")
            return JSONResponse(self._shaped(record, [n for n in names if n]))
        body = await self._body(request)
        if isinstance(body, JSONResponse):
            return body
        properties = {k: str(v) for k, v in (body.get("properties") or {}).items()}
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
        rows = list(self.contacts.values())
        for group in body.get("filterGroups") or []:
            for condition in group.get("filters") or []:
                rows = [r for r in rows if _holds(r, condition)]
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
        properties = body.get("properties") or {}
        if "hs_timestamp" not in properties:
            return _error(400, "Property values were not valid: hs_timestamp is required",
                          "VALIDATION_ERROR")  # fmt: skip
        for association in body.get("associations") or []:
            target = str(association["to"]["id"])
            types = [t.get("associationTypeId") for t in association.get("types", [])]
            if target not in self.contacts or _ASSOCIATION_MEETING_TO_CONTACT not in types:
                return _error(400, f"Invalid association to {target}", "VALIDATION_ERROR")
        meeting_id = str(next(self._ids))
        moment = _iso(self.auth.now_datetime())
        self.meetings[meeting_id] = {
            "id": meeting_id, "properties": properties, "createdAt": moment, "updatedAt": moment,
            "associations": [str(a["to"]["id"]) for a in body.get("associations") or []],
        }  # fmt: skip
        return JSONResponse(self.meetings[meeting_id], status_code=201)


def _value(record: dict[str, Any], name: str) -> str:
    return str(record["properties"].get(name) or "")


def _millis(value: str) -> int:
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)


def _holds(record: dict[str, Any], condition: dict[str, Any]) -> bool:
    name, operator, wanted = (
        condition["propertyName"],
        condition["operator"],
        condition.get("value"),
    )
    have = record["properties"].get(name)
    if name in ("lastmodifieddate", "hs_lastmodifieddate", "createdate"):
        # Date properties compare as epoch milliseconds.
        left, right = (_millis(have) if have else 0), int(str(wanted))
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
