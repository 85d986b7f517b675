"""The CRM sync loop every replica runs: it claims connections whose sync is due (a lease in
the row, so one replica syncs a connection at a time and a dead one's lease runs out), syncs
them a few at a time, and sleeps until the next poll or until the API wakes it."""

from __future__ import annotations

import asyncio
import contextlib

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from v100.kit.db import new_id, unit_of_work
from v100.kit.observability import get_logger
from v100.services.integration.clock import Clock
from v100.services.integration.crm.repository import ConnectionRepository
from v100.services.integration.crm.sync import ConnectionSync
from v100.services.integration.settings import IntegrationSettings

__all__ = ["CrmSyncLoop"]

_log = get_logger("v100.integration.crm")
# Connections synced at once by one process.
CONCURRENCY = 4


class CrmSyncLoop:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        sync: ConnectionSync,
        settings: IntegrationSettings,
        clock: Clock,
    ) -> None:
        self.sessions = sessions
        self.sync = sync
        self.settings = settings
        self.clock = clock
        self._woken = asyncio.Event()

    def wake(self) -> None:
        self._woken.set()

    async def run(self) -> None:
        while True:
            try:
                await self.run_due()
            except Exception:  # the loop outlives a bad pass (the database away a moment)
                _log.exception("crm sync pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._woken.wait(), self.settings.crm_sync_poll_seconds)
            self._woken.clear()

    async def run_due(self) -> dict[str, str]:
        """Sync every connection due now; each one's ending status, by id."""
        now = self.clock.now()
        claimed: list[tuple[str, str]] = []
        async with unit_of_work(self.sessions) as session:
            connections = ConnectionRepository(session)
            for connection_id in await connections.due(now, CONCURRENCY):
                lease = new_id()
                if await connections.claim(
                    connection_id, lease, now, self.settings.crm_sync_lease_seconds
                ):
                    claimed.append((connection_id, lease))
        if not claimed:
            return {}
        results = await asyncio.gather(
            *(self.sync.run(connection_id, lease) for connection_id, lease in claimed),
            return_exceptions=True,
        )
        outcome: dict[str, str] = {}
        for (connection_id, _), result in zip(claimed, results, strict=True):
            if isinstance(result, BaseException):
                _log.error("crm sync crashed", connection=connection_id, error=repr(result))
                outcome[connection_id] = "crashed"
            else:
                outcome[connection_id] = result
        return outcome
