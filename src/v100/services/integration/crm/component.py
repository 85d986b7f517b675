"""The CRM's part of integration's start-up: the connectors (one HTTP client per configured
vendor), the sealer for tokens, the sync loop (started once the database is migrated), each
handed to the endpoints; all closed at shutdown. Needs the integration clock, so it is entered
after the webhooks component that provides it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from v100.kit.http import Component, Runtime
from v100.kit.observability import get_logger
from v100.kit.sealing import Sealer
from v100.services.integration.clock import Clock
from v100.services.integration.crm.connectors import Connectors
from v100.services.integration.crm.runner import CrmSyncLoop
from v100.services.integration.crm.sync import ConnectionSync
from v100.services.integration.settings import IntegrationSettings

__all__ = ["crm_component"]

_log = get_logger("v100.integration.crm")


def crm_component(settings: IntegrationSettings) -> Component:
    @contextlib.asynccontextmanager
    async def crm(runtime: Runtime) -> AsyncIterator[None]:
        assert runtime.sessions is not None
        clock = runtime.find(Clock)
        if clock is None:
            clock = Clock()
            runtime.provide(clock)
        connectors = Connectors(settings)
        sealer = Sealer.from_settings(settings.platform)
        loop = CrmSyncLoop(
            runtime.sessions,
            ConnectionSync(runtime.sessions, connectors, sealer, settings, clock),
            settings,
            clock,
        )
        runtime.provide(connectors)
        runtime.provide(sealer)
        runtime.provide(loop)

        async def after_migrations() -> None:
            await runtime.migrated.wait()
            await loop.run()

        task = asyncio.create_task(after_migrations(), name="crm-sync")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(task, timeout=10)
            if not task.done():
                _log.warning("crm sync loop did not stop")
            await connectors.aclose()

    return crm
