"""What the SMS endpoints are given, typed: Twilio's client when the installation has an
account (``TwilioDep`` answers 501 not-configured otherwise), and ``SmsService`` wired to
integration's clock, the bus and the outbox."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from v100.kit.errors import NotConfigured
from v100.kit.http import ProvidedIfAny, RuntimeDep
from v100.services.integration.deps import ClockDep
from v100.services.integration.sms.outbox import Outbox
from v100.services.integration.sms.service import SmsService
from v100.services.integration.sms.twilio_client import TwilioMessaging

__all__ = ["SmsDep", "TwilioDep"]


async def get_twilio(
    twilio: Annotated[TwilioMessaging | None, Depends(ProvidedIfAny(TwilioMessaging))],
) -> TwilioMessaging:
    if twilio is None:
        raise NotConfigured(
            "SMS is not configured on this installation (V100_INTEGRATION_TWILIO_ACCOUNT_SID "
            "and V100_INTEGRATION_TWILIO_AUTH_TOKEN)."
        )
    return twilio


TwilioDep = Annotated[TwilioMessaging, Depends(get_twilio)]


def _nothing() -> None:
    return None


async def get_sms(
    runtime: RuntimeDep,
    clock: ClockDep,
    outbox: Annotated[Outbox | None, Depends(ProvidedIfAny(Outbox))],
) -> SmsService:
    return SmsService(clock, runtime.bus, outbox.wake if outbox is not None else _nothing)


SmsDep = Annotated[SmsService, Depends(get_sms)]
