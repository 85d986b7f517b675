"""Builds the billing_engine app: plans, meters and usage, subscriptions and invoices, the
invoicing run and the Stripe push on the job queue (run by the app embedded, by ``v100 worker``
distributed), and Stripe's webhook when Stripe is configured."""

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI

from v100.kit.http import Access, DatabaseSpec, Runtime, ServiceSpec, create_service_app
from v100.kit.jobs import running_jobs
from v100.services.billing_engine import tasks
from v100.services.billing_engine.catalogue_api import plans_router, usage_router
from v100.services.billing_engine.invoices_api import invoices_router
from v100.services.billing_engine.models import Base
from v100.services.billing_engine.revenue_api import revenue_shares_router
from v100.services.billing_engine.settings import BillingEngineSettings as Settings
from v100.services.billing_engine.stripe_api import WEBHOOK_PATH, stripe_router
from v100.services.billing_engine.subscriptions_api import subscriptions_router

DATABASE = DatabaseSpec(Base.metadata, Path(__file__).parent / "migrations")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @contextlib.asynccontextmanager
    async def stripe(runtime: Runtime) -> AsyncIterator[None]:
        # The jobs this process runs use the settings the app was built with.
        tasks.use_settings(settings)
        # Without a key, invoices stay local and the webhook answers 501 (not-configured).
        client = tasks.stripe_client(settings) if settings.stripe_sync else None
        if client is not None:
            runtime.provide(client)
        try:
            yield
        finally:
            tasks.forget_settings(settings)
            if client is not None:
                await client.aclose()

    return create_service_app(
        ServiceSpec(
            settings,
            title="V100 billing_engine",
            routers=[
                plans_router,
                usage_router,
                subscriptions_router,
                invoices_router,
                revenue_shares_router,
                stripe_router,
            ],
            database=DATABASE,
            access=Access(public_paths=[WEBHOOK_PATH]),
            components=[stripe, running_jobs(tasks.jobs)],
        )
    )
