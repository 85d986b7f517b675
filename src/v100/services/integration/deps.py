"""What integration's endpoints are given, typed: its settings, its clock, the dispatcher and
stream hub the components started, and the services wired to them."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from v100.kit.errors import BackendUnavailable
from v100.kit.http import Provided, RuntimeDep, SettingsOf
from v100.services.integration.clock import Clock
from v100.services.integration.dispatcher import Dispatcher
from v100.services.integration.service import WebhookService
from v100.services.integration.settings import IntegrationSettings
from v100.services.integration.stream_hub import StreamHub
from v100.services.integration.streams import StreamService

__all__ = ["ClockDep", "DispatcherDep", "ServiceDep", "SettingsDep", "StreamsDep"]

SettingsDep = Annotated[IntegrationSettings, Depends(SettingsOf(IntegrationSettings))]
ClockDep = Annotated[Clock, Depends(Provided(Clock))]
DispatcherDep = Annotated[Dispatcher, Depends(Provided(Dispatcher))]
HubDep = Annotated[StreamHub, Depends(Provided(StreamHub))]


async def get_service(
    settings: SettingsDep, clock: ClockDep, dispatcher: DispatcherDep, hub: HubDep
) -> WebhookService:
    def recorded() -> None:  # a test message, a replay: deliveries and maybe the stream
        dispatcher.wake()
        hub.notify()

    return WebhookService(settings, dispatcher.sender.policy, clock, recorded)


ServiceDep = Annotated[WebhookService, Depends(get_service)]


async def get_streams(
    runtime: RuntimeDep, settings: SettingsDep, clock: ClockDep, hub: HubDep
) -> StreamService:
    if runtime.sessions is None:
        raise BackendUnavailable("integration is not ready yet.", retry_after=1)
    return StreamService(runtime.sessions, settings, clock, hub)


StreamsDep = Annotated[StreamService, Depends(get_streams)]
