"""What the CRM's endpoints are given: its service (on the settings, connectors, sealer and
clock the components opened), the sessions the OAuth callback commits with, and the sync loop
to wake."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from v100.kit.errors import BackendUnavailable
from v100.kit.http import Provided, RuntimeDep, SettingsOf
from v100.kit.sealing import Sealer
from v100.services.integration.clock import Clock
from v100.services.integration.crm.connectors import Connectors
from v100.services.integration.crm.runner import CrmSyncLoop
from v100.services.integration.crm.service import CrmService
from v100.services.integration.settings import IntegrationSettings

__all__ = ["CrmServiceDep", "SessionsDep", "SyncLoopDep"]

SettingsDep = Annotated[IntegrationSettings, Depends(SettingsOf(IntegrationSettings))]
ClockDep = Annotated[Clock, Depends(Provided(Clock))]
ConnectorsDep = Annotated[Connectors, Depends(Provided(Connectors))]
SealerDep = Annotated[Sealer, Depends(Provided(Sealer))]
SyncLoopDep = Annotated[CrmSyncLoop, Depends(Provided(CrmSyncLoop))]


async def get_service(
    settings: SettingsDep, connectors: ConnectorsDep, sealer: SealerDep, clock: ClockDep
) -> CrmService:
    return CrmService(settings, connectors, sealer, clock)


CrmServiceDep = Annotated[CrmService, Depends(get_service)]


async def get_sessions(runtime: RuntimeDep) -> async_sessionmaker[AsyncSession]:
    if runtime.sessions is None or not runtime.migrated.is_set():
        raise BackendUnavailable("The database is not ready yet.", retry_after=1)
    return runtime.sessions


SessionsDep = Annotated[async_sessionmaker[AsyncSession], Depends(get_sessions)]
