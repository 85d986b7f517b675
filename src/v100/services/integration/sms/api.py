"""SMS endpoints under ``/v1/sms``: senders, messages (send, list, read, cancel), opt-outs, and
the two callbacks Twilio posts (status changes, inbound texts), which are public and trust only
a valid ``X-Twilio-Signature`` over the exact public URL and the form parameters. Thin: parse,
check, call ``SmsService``, shape."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Annotated, Any, TypeVar
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from pydantic import BaseModel
from starlette.responses import JSONResponse

from v100.kit.auth import Principal
from v100.kit.db import InvalidCursorError, Page
from v100.kit.errors import PROBLEM_CONTENT_TYPE, BadRequest
from v100.kit.http import VENDOR_NOT_CONFIGURED, Authorized, SessionDep
from v100.kit.idempotency import IdempotencyKey, OptionalIdempotencyKey, idempotent
from v100.services.integration.deps import SettingsDep
from v100.services.integration.settings import IntegrationSettings
from v100.services.integration.sms.callbacks import INBOUND_PATH, STATUS_PATH, inbound_url
from v100.services.integration.sms.deps import SmsDep, TwilioDep
from v100.services.integration.sms.errors import InvalidTwilioSignature
from v100.services.integration.sms.models import SmsMessage, SmsOptOut, SmsSender
from v100.services.integration.sms.schemas import (
    E164,
    MessageCreate,
    MessageOut,
    MessagePage,
    MessageStatus,
    OptOutOut,
    OptOutPage,
    SenderCreate,
    SenderOut,
    SenderPage,
    SenderUpdate,
)
from v100.services.integration.sms.twilio_client import TwilioMessaging

__all__ = ["sms_router"]

SmsRead = Annotated[Principal, Depends(Authorized("sms:read"))]
SmsWrite = Annotated[Principal, Depends(Authorized("sms:write"))]

sms_router = APIRouter(prefix="/v1/sms", tags=["sms"])

Limit = Annotated[int, Query(ge=1, le=200)]
Cursor = Annotated[str | None, Query(max_length=200)]
T = TypeVar("T")

_SIGNED: dict[int | str, dict[str, Any]] = {
    403: {
        "description": "The X-Twilio-Signature does not check out (problem+json, "
        "/problems/invalid-signature); nothing was changed.",
        "content": {PROBLEM_CONTENT_TYPE: {}},
    },
    **VENDOR_NOT_CONFIGURED,
}
_EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


async def _paged(fetch: Awaitable[Page[T]]) -> Page[T]:
    try:
        return await fetch
    except InvalidCursorError:
        raise BadRequest("The cursor is not valid.") from None


def _sender(sender: SmsSender, settings: IntegrationSettings) -> SenderOut:
    return SenderOut(
        id=sender.id, phone_number=sender.phone_number,
        messaging_service_sid=sender.messaging_service_sid, description=sender.description,
        default=sender.is_default, inbound_webhook_url=inbound_url(settings),
        created_at=sender.created_at,
    )  # fmt: skip


def _message(message: SmsMessage) -> MessageOut:
    return MessageOut.model_validate(message, from_attributes=True)


def _opt_out(opt_out: SmsOptOut) -> OptOutOut:
    return OptOutOut.model_validate(opt_out, from_attributes=True)


# -- senders ------------------------------------------------------------------------------------


@sms_router.post("/senders", status_code=201, response_model=SenderOut)
async def create_sender(
    body: SenderCreate,
    key: IdempotencyKey,
    principal: SmsWrite,
    sms: SmsDep,
    session: SessionDep,
    settings: SettingsDep,
) -> JSONResponse:
    """Register a number (E.164) or Messaging Service of the platform's Twilio account to send
    from; the tenant's first sender is its default."""

    def created(sender: SmsSender) -> BaseModel:
        return _sender(sender, settings)

    work = sms.create_sender(
        session, principal.tenant_id, phone_number=body.phone_number,
        messaging_service_sid=body.messaging_service_sid, description=body.description,
        default=body.default,
    )  # fmt: skip
    return await idempotent(
        session, principal.tenant_id, key, "create_sms_sender", body, work, created, status=201
    )


@sms_router.get("/senders", response_model=SenderPage)
async def list_senders(
    principal: SmsRead,
    sms: SmsDep,
    session: SessionDep,
    settings: SettingsDep,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> SenderPage:
    """The tenant's SMS senders, newest first."""
    page = await _paged(sms.senders(session, principal.tenant_id, limit=limit, cursor=cursor))
    return SenderPage(items=[_sender(s, settings) for s in page.items],
                      next_cursor=page.next_cursor)  # fmt: skip


@sms_router.get("/senders/{sender_id}", response_model=SenderOut)
async def get_sender(
    sender_id: str, principal: SmsRead, sms: SmsDep, session: SessionDep, settings: SettingsDep
) -> SenderOut:
    """One SMS sender."""
    return _sender(await sms.sender(session, principal.tenant_id, sender_id), settings)


@sms_router.patch("/senders/{sender_id}", response_model=SenderOut)
async def update_sender(
    sender_id: str,
    body: SenderUpdate,
    principal: SmsWrite,
    sms: SmsDep,
    session: SessionDep,
    settings: SettingsDep,
) -> SenderOut:
    """Change a sender's description, or make it the default."""
    sender = await sms.update_sender(
        session, principal.tenant_id, sender_id, description=body.description,
        default=body.default,
    )  # fmt: skip
    return _sender(sender, settings)


@sms_router.delete("/senders/{sender_id}", status_code=204)
async def delete_sender(
    sender_id: str, principal: SmsWrite, sms: SmsDep, session: SessionDep
) -> Response:
    """Delete a sender; its messages and its opt-outs stay."""
    await sms.delete_sender(session, principal.tenant_id, sender_id)
    return Response(status_code=204)


# -- messages -----------------------------------------------------------------------------------


@sms_router.post(
    "/messages", status_code=202, response_model=MessageOut, responses=VENDOR_NOT_CONFIGURED
)
async def send_message(
    body: MessageCreate,
    key: IdempotencyKey,
    principal: SmsWrite,
    twilio: TwilioDep,
    sms: SmsDep,
    session: SessionDep,
) -> JSONResponse:
    """Send an SMS (at ``send_at`` for a reminder): written first, handed to Twilio after
    commit; its ``status`` then follows Twilio's callbacks."""
    work = sms.create_message(
        session, principal.tenant_id, to=body.to, body=body.body, sender_id=body.sender_id,
        send_at=body.send_at, reference=body.reference,
    )  # fmt: skip
    return await idempotent(
        session, principal.tenant_id, key, "send_sms", body, work, _message, status=202
    )


@sms_router.get("/messages", response_model=MessagePage)
async def list_messages(
    principal: SmsRead,
    sms: SmsDep,
    session: SessionDep,
    status: Annotated[list[MessageStatus] | None, Query(max_length=9)] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> MessagePage:
    """The tenant's SMS messages, newest first, of the statuses given (all by default)."""
    page = await _paged(
        sms.messages(session, principal.tenant_id, statuses=list(status or []), limit=limit,
                     cursor=cursor)
    )  # fmt: skip
    return MessagePage(items=[_message(m) for m in page.items], next_cursor=page.next_cursor)


@sms_router.get("/messages/{message_id}", response_model=MessageOut)
async def get_message(
    message_id: str, principal: SmsRead, sms: SmsDep, session: SessionDep
) -> MessageOut:
    """One SMS message, with where it stands."""
    return _message(await sms.message(session, principal.tenant_id, message_id))


@sms_router.post("/messages/{message_id}/cancel", response_model=MessageOut)
async def cancel_message(
    message_id: str,
    principal: SmsWrite,
    sms: SmsDep,
    session: SessionDep,
    key: OptionalIdempotencyKey = None,
) -> JSONResponse:
    """Cancel a message not yet handed to Twilio (a scheduled reminder)."""
    work = sms.cancel(session, principal.tenant_id, message_id)
    operation = f"cancel_sms:{message_id}"
    return await idempotent(session, principal.tenant_id, key, operation, None, work, _message)


@sms_router.get("/opt-outs", response_model=OptOutPage)
async def list_opt_outs(
    principal: SmsRead,
    sms: SmsDep,
    session: SessionDep,
    phone_number: Annotated[E164 | None, Query()] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> OptOutPage:
    """Recipients who opted out of the tenant's senders (STOP), newest first."""
    page = await _paged(
        sms.opt_outs(session, principal.tenant_id, phone_number=phone_number, limit=limit,
                     cursor=cursor)
    )  # fmt: skip
    return OptOutPage(items=[_opt_out(o) for o in page.items], next_cursor=page.next_cursor)


# -- Twilio's callbacks -------------------------------------------------------------------------


async def _signed_form(
    request: Request, twilio: TwilioMessaging, settings: IntegrationSettings, signature: str | None
) -> dict[str, str]:
    """The callback's form parameters, once its signature checks out over the public URL it
    was sent to (never the request's Host: the gateway or a proxy is in between)."""
    params = dict(parse_qsl((await request.body()).decode("utf-8", "replace"),
                            keep_blank_values=True))  # fmt: skip
    url = f"{settings.sms_base_url}{request.url.path}"
    if request.url.query:
        url = f"{url}?{request.url.query}"
    if not twilio.signed(url, params, signature):
        raise InvalidTwilioSignature("The X-Twilio-Signature does not match this request.")
    return params


TwilioSignature = Annotated[str | None, Header(alias="X-Twilio-Signature")]


@sms_router.post(STATUS_PATH.removeprefix("/v1/sms"), status_code=204, responses=_SIGNED)
async def twilio_status_callback(
    request: Request,
    message_id: Annotated[str, Query(max_length=36)],
    twilio: TwilioDep,
    sms: SmsDep,
    session: SessionDep,
    settings: SettingsDep,
    signature: TwilioSignature = None,
) -> Response:
    """Twilio's status callback of a message (signed): its status moves forward, never back."""
    params = await _signed_form(request, twilio, settings, signature)
    await sms.status_changed(session, message_id, params)
    return Response(status_code=204)


@sms_router.post(
    INBOUND_PATH.removeprefix("/v1/sms"),
    response_class=Response,
    responses={200: {"content": {"application/xml": {}}}, **_SIGNED},
)
async def twilio_inbound(
    request: Request,
    twilio: TwilioDep,
    sms: SmsDep,
    session: SessionDep,
    settings: SettingsDep,
    signature: TwilioSignature = None,
) -> Response:
    """A text to one of the senders (signed by Twilio): STOP opts its author out, START in."""
    params = await _signed_form(request, twilio, settings, signature)
    await sms.received(session, params)
    # Empty TwiML: no reply from here (Twilio's Advanced Opt-Out confirms STOP and START).
    return Response(_EMPTY_TWIML, media_type="application/xml")
