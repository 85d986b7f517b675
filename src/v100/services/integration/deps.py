"""What integration's endpoints are given, typed: its settings, its clock, the dispatcher the
components started, and a ``WebhookService`` wired to them."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from v100.kit.http import Provided, SettingsOf
from v100.services.integration.clock import Clock
from v100.services.integration.dispatcher import Dispatcher
from v100.services.integration.service import WebhookService
from v100.services.integration.settings import IntegrationSettings

__all__ = ["ClockDep", "DispatcherDep", "ServiceDep", "SettingsDep"]

SettingsDep = Annotated[IntegrationSettings, Depends(SettingsOf(IntegrationSettings))]
ClockDep = Annotated[Clock, Depends(Provided(Clock))]
DispatcherDep = Annotated[Dispatcher, Depends(Provided(Dispatcher))]


async def get_service(
    settings: SettingsDep, clock: ClockDep, dispatcher: DispatcherDep
) -> WebhookService:
    return WebhookService(settings, dispatcher.policy, clock, dispatcher.wake)


ServiceDep = Annotated[WebhookService, Depends(get_service)]
