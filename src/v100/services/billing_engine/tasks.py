"""billing_engine's background jobs: the invoicing run, every five minutes through the job
queue's scheduler (deduplicated per tick across replicas; the run itself is idempotent), and the
push of each issued invoice to Stripe (enqueued in the invoice's transaction when Stripe is on)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from v100.kit.bus import create_bus
from v100.kit.db import utcnow
from v100.kit.jobs import JobContext, JobRegistry, PermanentJobError, enqueue
from v100.kit.observability import get_logger
from v100.services.billing_engine.invoicing import run_invoicing
from v100.services.billing_engine.models import Invoice
from v100.services.billing_engine.providers.stripe import StripeInvoicing, StripeRefused
from v100.services.billing_engine.settings import BillingEngineSettings
from v100.services.billing_engine.stripe_sync import push_invoice

__all__ = [
    "enqueue_stripe_push",
    "forget_settings",
    "invoice_due_subscriptions",
    "jobs",
    "push_invoice_to_stripe",
    "stripe_client",
    "use_settings",
]

jobs = JobRegistry("billing_engine")
_log = get_logger("v100.billing_engine")

# Late events within this delay after a period ends are still billed in it.
INVOICE_GRACE = timedelta(minutes=15)

# The settings the app was built with (embedded, ``v100 serve``); a worker reads the environment.
_settings: BillingEngineSettings | None = None


def use_settings(settings: BillingEngineSettings | None) -> None:
    """At start-up: the jobs this process runs use ``settings`` (None: the environment)."""
    global _settings
    _settings = settings


def forget_settings(settings: BillingEngineSettings) -> None:
    """At shutdown: back to the environment, unless another app has chosen since."""
    if _settings is settings:
        use_settings(None)


def _current_settings() -> BillingEngineSettings:
    return _settings or BillingEngineSettings()


def stripe_client(settings: BillingEngineSettings) -> StripeInvoicing:
    assert settings.stripe_api_key is not None
    secret = settings.stripe_webhook_secret
    return StripeInvoicing(
        settings.stripe_api_key.get_secret_value(),
        secret.get_secret_value() if secret else None,
        api_base=settings.stripe_api_base,
        tolerance_seconds=settings.stripe_webhook_tolerance_seconds,
    )


async def enqueue_stripe_push(session: AsyncSession, invoice: Invoice) -> None:
    """In the invoice's transaction: the push job commits with it, or neither exists."""
    await enqueue(
        session,
        push_invoice_to_stripe,
        invoice.id,
        tenant_id=invoice.tenant_id,
        dedupe_key=f"stripe-push:{invoice.id}",
    )


@jobs.task(cron="*/5 * * * *", max_attempts=5, backoff=5.0, timeout=600)
async def invoice_due_subscriptions(job: JobContext) -> None:
    # The job may run in a worker, away from the app's runtime: renewals are announced on a
    # bus of its own (embedded, the process's shared one).
    bus = create_bus(_current_settings().platform.redis_url)
    try:
        run = await run_invoicing(
            job.sessions,
            utcnow(),
            grace=INVOICE_GRACE,
            bus=bus,
            on_invoice=enqueue_stripe_push if _current_settings().stripe_sync else None,
        )
    finally:
        await bus.close()
    _log.info("invoicing run", invoiced=run.invoiced, skipped=run.skipped)


@jobs.task(max_attempts=8, backoff=5.0, max_backoff=600.0, timeout=300)
async def push_invoice_to_stripe(job: JobContext, invoice_id: str) -> None:
    settings = _current_settings()
    if not settings.stripe_sync:
        raise PermanentJobError("Stripe is not configured (no stripe_api_key)")
    stripe = stripe_client(settings)
    try:
        outcome = await push_invoice(job.sessions, stripe, invoice_id)
    except StripeRefused as exc:  # a client error: retrying cannot help
        raise PermanentJobError(str(exc.detail)) from exc
    finally:  # UpstreamUnavailable (Stripe down, 5xx, 429) is retried with backoff
        await stripe.aclose()
    _log.info("stripe push", invoice_id=invoice_id, outcome=outcome)
