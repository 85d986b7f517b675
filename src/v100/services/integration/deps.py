"""What integration's endpoints are given, typed: its settings, its clock, the dispatcher the
components started, and a ``WebhookService`` wired to them."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from v100.kit.errors import BackendUnavailable
from v100.kit.http import Provided, RuntimeDep, SettingsOf
from v100.services.integration.clock import Clock
from v100.services.integration.dispatcher import Dispatcher
from v100.services.integration.service import WebhookService
from v100.services.integration.settings import IntegrationSettings
from v100.services.integration.streams import StreamService, StreamSignal

__all__ = ["ClockDep", "DispatcherDep", "ServiceDep", "SettingsDep", "StreamsDep"]

SettingsDep = Annotated[IntegrationSettings, Depends(SettingsOf(IntegrationSettings))]
ClockDep = Annotated[Clock, Depends(Provided(Clock))]
DispatcherDep = Annotated[Dispatcher, Depends(Provided(Dispatcher))]


async def get_service(
    settings: SettingsDep, clock: ClockDep, dispatcher: DispatcherDep
) -> WebhookService:
    return WebhookService(settings, dispatcher.sender.policy, clock, dispatcher.wake)


ServiceDep = Annotated[WebhookService, Depends(get_service)]


async def get_streams(runtime: RuntimeDep, settings: SettingsDep, clock: ClockDep) -> StreamService:
    if runtime.sessions is None:
        raise BackendUnavailable("integration is not ready yet.", retry_after=1)
    return StreamService(runtime.sessions, settings, clock, runtime.get(StreamSignal))


StreamsDep = Annotated[StreamService, Depends(get_streams)]
