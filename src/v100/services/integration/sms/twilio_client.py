"""Twilio through its official SDK: the REST client on the SDK's own asyncio HTTP client
(``AsyncTwilioHttpClient``, so the event loop never blocks), its API domain pointed at a local
fake in tests (``client.api.base_url``, ADR 0034), and the SDK's ``RequestValidator`` for the
``X-Twilio-Signature`` of the callbacks Twilio posts.

    TwilioRefused       Twilio answered 4xx (not 429): sending again cannot help (21211 invalid
                        number, 21610 unsubscribed recipient, 21606 not a sending number, ...)
    TwilioUnavailable   429, 5xx, a timeout or no connection: try again later
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp  # the SDK's async transport; its errors are what a dead connection raises
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

__all__ = ["Submitted", "TwilioMessaging", "TwilioRefused", "TwilioUnavailable"]

# Twilio's code for an unsubscribed recipient (they texted STOP to Twilio directly).
UNSUBSCRIBED_RECIPIENT = 21610


@dataclass(frozen=True, slots=True)
class Submitted:
    """Twilio took the message: its SID and first status (``queued``, or ``accepted`` through a
    Messaging Service)."""

    sid: str
    status: str


class TwilioRefused(Exception):
    def __init__(self, status: int, code: int | None, message: str) -> None:
        super().__init__(f"Twilio refused the message ({status}, {code}): {message}")
        self.status, self.code, self.message = status, code, message


class TwilioUnavailable(Exception):
    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code, self.message = code, message


class TwilioMessaging:
    """The platform's Twilio account: sends messages, checks callback signatures. ``aclose``
    when done."""

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        api_base_url: str | None = None,
        timeout: float = 15.0,
    ) -> None:
        self._http = AsyncTwilioHttpClient(timeout=timeout)
        self._client = Client(account_sid, auth_token, http_client=self._http)
        if api_base_url:
            # The API domain's base URL (``https://api.twilio.com``) is a plain attribute of the
            # SDK's Domain; with no region or edge set the SDK uses it as is. (The SDK reads
            # TWILIO_REGION and TWILIO_EDGE from the environment: they would rewrite its host.)
            self._client.api.base_url = api_base_url.rstrip("/")
            self._client.region = self._client.edge = None
        self._validator = RequestValidator(auth_token)

    async def aclose(self) -> None:
        await self._http.close()

    async def send(
        self,
        *,
        to: str,
        body: str,
        from_number: str | None,
        messaging_service_sid: str | None,
        status_callback: str,
    ) -> Submitted:
        """Create the message (``POST /2010-04-01/Accounts/{sid}/Messages.json``)."""
        options: dict[str, str] = {"to": to, "body": body, "status_callback": status_callback}
        if messaging_service_sid:
            options["messaging_service_sid"] = messaging_service_sid
        elif from_number:
            options["from_"] = from_number
        try:
            message = await self._client.api.v2010.account.messages.create_async(**options)
        except TwilioRestException as exc:
            status = int(exc.status)
            code = int(exc.code) if exc.code is not None else None
            text = str(exc.msg or "")[:400]
            if status == 429 or status >= 500:
                raise TwilioUnavailable(f"Twilio answered {status}: {text}", code) from exc
            raise TwilioRefused(status, code, text) from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TwilioUnavailable(f"Twilio did not answer: {exc!r}"[:400]) from exc
        return Submitted(sid=str(message.sid), status=str(message.status))

    def signed(self, url: str, params: Mapping[str, str], signature: str | None) -> bool:
        """Whether ``signature`` is Twilio's for a POST of ``params`` to ``url`` (the exact URL
        Twilio was given: scheme, host, path and query)."""
        if not signature:
            return False
        return bool(self._validator.validate(url, dict(params), signature))
