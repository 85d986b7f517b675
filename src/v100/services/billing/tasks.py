"""billing's background jobs: the sweep that releases expired holds and expires lapsed grants
of every tenant through the ledger (reads also do it for the tenant they touch)."""

from __future__ import annotations

from v100.kit.bus import create_bus
from v100.kit.jobs import JobContext, JobRegistry
from v100.services.billing.service import CreditService
from v100.services.billing.settings import BillingSettings

__all__ = ["expire_credits", "jobs"]

jobs = JobRegistry("billing")


@jobs.task(interval=60, max_attempts=1)
async def expire_credits(job: JobContext) -> None:
    settings = BillingSettings()
    # Its own bus handle: expiry can cross the low-balance threshold too.
    bus = create_bus(settings.platform.redis_url)
    try:
        async with job.unit_of_work() as session:
            await CreditService(session, settings, bus).expire_all_due()
    finally:
        await bus.close()
