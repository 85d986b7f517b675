"""billing_engine's background jobs: the invoicing run, every five minutes through the job
queue's scheduler (deduplicated per tick across replicas; the run itself is idempotent)."""

from __future__ import annotations

from datetime import timedelta

from v100.kit.db import utcnow
from v100.kit.jobs import JobContext, JobRegistry
from v100.kit.observability import get_logger
from v100.services.billing_engine.invoicing import run_invoicing

__all__ = ["invoice_due_subscriptions", "jobs"]

jobs = JobRegistry("billing_engine")
_log = get_logger("v100.billing_engine")

# Late events within this delay after a period ends are still billed in it.
INVOICE_GRACE = timedelta(minutes=15)


@jobs.task(cron="*/5 * * * *", max_attempts=5, backoff=5.0, timeout=600)
async def invoice_due_subscriptions(job: JobContext) -> None:
    run = await run_invoicing(job.sessions, utcnow(), grace=INVOICE_GRACE)
    _log.info("invoicing run", invoiced=run.invoiced, skipped=run.skipped)
