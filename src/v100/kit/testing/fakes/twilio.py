"""A local fake of the part of Twilio's REST API that V100 uses, speaking its documented wire
format: ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` form-encoded (``To``,
``From`` or ``MessagingServiceSid``, ``Body``, ``StatusCallback``) with HTTP Basic auth
``AccountSid:AuthToken``, answered 201 with the Message resource as JSON (``sid`` ``SM...``,
``status`` ``queued``, or ``accepted`` through a Messaging Service);
``GET .../Messages/{Sid}.json``; errors as ``{"code", "message", "more_info", "status"}``
(20003 authenticate, 21211 invalid 'To', 21602 no body, 21603 no 'From', 21604 no 'To', 21610
unsubscribed recipient, 21617 body too long, 20429 too many requests).

After creating a message it posts status callbacks to its ``StatusCallback`` the way Twilio
does: form-encoded ``MessageSid``, ``MessageStatus``, ``SmsSid``, ``SmsStatus``, ``AccountSid``,
``From``, ``To``, ``ApiVersion`` (and ``ErrorCode`` on failure), signed with
``X-Twilio-Signature`` = base64(HMAC-SHA1(AuthToken, URL + each parameter's name and value in
name order)). ``queued -> sent -> delivered`` unless ``outcomes[to]`` says ``undelivered`` or
``failed``.

    fake = FakeTwilio(callback_client=client_of_the_app)   # or None: a plain HTTP client
    async with serving(fake.app) as base_url:
        ...                                # the SDK sends to base_url
        fake.fail_next(1, status=429)      # the next API call answers 429 (20429)
        fake.invalid_numbers.add("+15005550001")
        await fake.inbound(url, from_="+14155550100", to="+14155550199", body="STOP")
        await fake.settled()               # every callback posted so far has been answered
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qsl, urlparse

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

__all__ = ["FakeTwilio", "TwilioCall", "TwilioCallback", "twilio_signature"]

API_VERSION = "2010-04-01"
_E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")
# The number a Messaging Service's pool sends from, in callbacks.
POOL_NUMBER = "+15005550006"


def twilio_signature(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    """``X-Twilio-Signature`` for a POST of ``params`` to ``url``, computed as Twilio does."""
    data = url + "".join(name + params[name] for name in sorted(params))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _error(status: int, code: int, message: str) -> JSONResponse:
    return JSONResponse(
        {"code": code, "message": message,
         "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status},
        status_code=status,
    )  # fmt: skip


def _rfc2822(moment: datetime) -> str:
    return format_datetime(moment, usegmt=True).replace("GMT", "+0000")


@dataclass(frozen=True)
class TwilioCall:
    """One request that reached the API (after the simulated failures)."""

    method: str
    path: str
    params: dict[str, str]
    # The Basic auth user name it came with (the Account SID).
    username: str


@dataclass(frozen=True)
class TwilioCallback:
    """One status callback or inbound message the fake posted, and the answer it got."""

    url: str
    params: dict[str, str]
    status_code: int


@dataclass
class FakeTwilio:
    account_sid: str = "AC" + "f" * 32
    auth_token: str = "fake-twilio-auth-token-0123456789"  # noqa: S105 - a test value
    # Callbacks go through this client when set (one speaking ASGI to the app under test).
    callback_client: httpx.AsyncClient | None = None
    # Post the status callbacks of each message by itself (off: tests post them one by one).
    auto_callbacks: bool = True
    # Seconds the API waits before answering a create (a slow Twilio; its callbacks may then
    # come before its answer, as they can).
    create_delay: float = 0.0
    # Recipient -> how its messages end: delivered (default), undelivered or failed.
    outcomes: dict[str, str] = field(default_factory=dict)
    # Numbers refused with 21211 (besides anything that is not E.164).
    invalid_numbers: set[str] = field(default_factory=set)
    # Recipients who texted STOP to Twilio: refused with 21610.
    unsubscribed: set[str] = field(default_factory=set)
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[TwilioCall] = field(default_factory=list)
    callbacks: list[TwilioCallback] = field(default_factory=list)
    # Message SID -> the StatusCallback it was created with.
    status_callbacks: dict[str, str] = field(default_factory=dict)
    _failures: list[int] = field(default_factory=list)
    _posting: set[asyncio.Task[None]] = field(default_factory=set)

    def __post_init__(self) -> None:
        base = f"/{API_VERSION}/Accounts/{{account_sid}}"
        self.app = Starlette(
            routes=[
                Route(f"{base}/Messages.json", self._create, methods=["POST"]),
                Route(f"{base}/Messages/{{sid}}.json", self._fetch, methods=["GET"]),
            ]
        )

    def fail_next(self, count: int = 1, *, status: int = 429) -> None:
        """The next ``count`` API calls answer ``status`` (429 Too Many Requests, or a 5xx)."""
        self._failures.extend([status] * count)

    def sent(self) -> list[TwilioCall]:
        """The message creations that reached the API and were accepted or refused."""
        return [c for c in self.calls if c.method == "POST"]

    def sign(self, url: str, params: Mapping[str, str]) -> str:
        return twilio_signature(self.auth_token, url, params)

    async def settled(self, within: float = 10.0) -> None:
        """Wait until every callback started so far has been answered."""
        async with asyncio.timeout(within):
            while self._posting:
                await asyncio.gather(*list(self._posting), return_exceptions=True)

    # -- the API ---------------------------------------------------------------------------

    def _refusal(self, request: Request) -> JSONResponse | None:
        if self._failures:
            status = self._failures.pop(0)
            if status == 429:
                return _error(429, 20429, "Too Many Requests")
            return _error(status, 20500, "Internal Server Error")
        header = request.headers.get("authorization", "")
        username = password = None
        if header.startswith("Basic "):
            try:
                username, _, password = base64.b64decode(header[6:]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                username = None
        if (
            username != self.account_sid
            or password is None
            or not hmac.compare_digest(password, self.auth_token)
            or request.path_params["account_sid"] != self.account_sid
        ):
            return _error(401, 20003, "Authenticate")
        return None

    async def _create(self, request: Request) -> JSONResponse:
        if (refused := self._refusal(request)) is not None:
            return refused
        params = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        self.calls.append(TwilioCall("POST", request.url.path, params, self.account_sid))
        # (only authenticated calls get here: the user name is the Account SID)
        to, body = params.get("To", ""), params.get("Body", "")
        sender, service = params.get("From"), params.get("MessagingServiceSid")
        callback = params.get("StatusCallback")
        if not to:
            return _error(400, 21604, "A 'To' phone number is required.")
        if not _E164.match(to) or to in self.invalid_numbers:
            return _error(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if not sender and not service:
            return _error(400, 21603, "A 'From' phone number is required.")
        if not body:
            return _error(400, 21602, "Message body is required.")
        if len(body) > 1600:
            return _error(
                400, 21617, "The concatenated message body exceeds the 1600 character limit."
            )
        if callback is not None and urlparse(callback).scheme not in ("http", "https"):
            return _error(400, 21609, "Invalid 'StatusCallback'")
        if to in self.unsubscribed:
            return _error(400, 21610, "Attempt to send to unsubscribed recipient")
        sid = "SM" + secrets.token_hex(16)
        now = _rfc2822(datetime.now(UTC))
        message = {
            "account_sid": self.account_sid, "api_version": API_VERSION, "body": body,
            "date_created": now, "date_sent": None, "date_updated": now,
            "direction": "outbound-api", "error_code": None, "error_message": None,
            "from": sender, "messaging_service_sid": service, "num_media": "0",
            "num_segments": str(1 + (len(body) - 1) // 153 if len(body) > 160 else 1),
            "price": None, "price_unit": "USD", "sid": sid,
            "status": "accepted" if service else "queued",
            "subresource_uris": {
                "media": f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}/Media.json"
            },
            "to": to, "uri": f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}.json",
        }  # fmt: skip
        self.messages[sid] = message
        if callback:
            self.status_callbacks[sid] = callback
        if callback and self.auto_callbacks:
            task = asyncio.create_task(self._lifecycle(sid, callback))
            self._posting.add(task)
            task.add_done_callback(self._posting.discard)
        if self.create_delay:
            await asyncio.sleep(self.create_delay)  # the callbacks may well come first
        return JSONResponse(message, status_code=201)

    async def _fetch(self, request: Request) -> JSONResponse:
        if (refused := self._refusal(request)) is not None:
            return refused
        self.calls.append(TwilioCall("GET", request.url.path, {}, self.account_sid))
        message = self.messages.get(request.path_params["sid"])
        if message is None:
            return _error(404, 20404, f"The requested resource {request.url.path} was not found")
        return JSONResponse(message)

    # -- callbacks -------------------------------------------------------------------------

    async def _lifecycle(self, sid: str, url: str) -> None:
        to = self.messages[sid]["to"]
        outcome = self.outcomes.get(to, "delivered")
        steps: list[tuple[str, int | None]] = [("queued", None)]
        if outcome == "failed":
            steps.append(("failed", 30008))
        else:
            steps.append(("sent", None))
            steps.append(
                ("undelivered", 30003) if outcome == "undelivered" else ("delivered", None)
            )
        await asyncio.sleep(0)  # after the answer to the create, as Twilio's come
        for status, code in steps:
            await self.post_status(sid, status, error_code=code, url=url)

    async def post_status(
        self, sid: str, status: str, *, error_code: int | None = None, url: str | None = None,
        signature: str | None = None,
    ) -> httpx.Response:  # fmt: skip
        """Post one status callback of message ``sid`` (to its StatusCallback unless ``url``),
        signed unless ``signature`` is given."""
        message = self.messages[sid]
        message["status"] = status
        if error_code is not None:
            message["error_code"] = error_code
        target = url or self.status_callbacks[sid]
        params = {
            "AccountSid": self.account_sid, "ApiVersion": API_VERSION,
            "From": message["from"] or POOL_NUMBER, "MessageSid": sid, "MessageStatus": status,
            "SmsSid": sid, "SmsStatus": status, "To": message["to"],
        }  # fmt: skip
        if message["messaging_service_sid"]:
            params["MessagingServiceSid"] = message["messaging_service_sid"]
        if error_code is not None:
            params["ErrorCode"] = str(error_code)
        return await self._post(target, params, signature)

    async def inbound(
        self, url: str, *, from_: str, to: str, body: str,
        messaging_service_sid: str | None = None, signature: str | None = None,
    ) -> httpx.Response:  # fmt: skip
        """A text from ``from_`` to one of the account's numbers, posted to its incoming-message
        webhook ``url`` as Twilio does (signed unless ``signature`` is given)."""
        sid = "SM" + secrets.token_hex(16)
        params = {
            "AccountSid": self.account_sid, "ApiVersion": API_VERSION, "Body": body,
            "From": from_, "MessageSid": sid, "NumMedia": "0", "NumSegments": "1",
            "SmsMessageSid": sid, "SmsSid": sid, "SmsStatus": "received", "To": to,
        }  # fmt: skip
        if messaging_service_sid is not None:
            params["MessagingServiceSid"] = messaging_service_sid
        return await self._post(url, params, signature)

    async def _post(
        self, url: str, params: dict[str, str], signature: str | None
    ) -> httpx.Response:
        headers = {
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
            "User-Agent": "TwilioProxy/1.1",
            "X-Twilio-Signature": signature if signature is not None else self.sign(url, params),
            "I-Twilio-Idempotency-Token": secrets.token_hex(16),
        }
        if self.callback_client is not None:
            answer = await self.callback_client.post(url, data=params, headers=headers)
        else:
            async with httpx.AsyncClient(trust_env=False, timeout=15) as client:
                answer = await client.post(url, data=params, headers=headers)
        self.callbacks.append(TwilioCallback(url, params, answer.status_code))
        return answer
