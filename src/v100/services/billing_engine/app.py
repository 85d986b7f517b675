"""Builds the billing_engine app: plans, meters and usage, subscriptions and invoices, and the
invoicing run on the job queue (run by the app embedded, by ``v100 worker`` distributed)."""

from pathlib import Path

from fastapi import FastAPI

from v100.kit.http import DatabaseSpec, create_service_app
from v100.kit.jobs import job_hooks
from v100.services.billing_engine import tasks
from v100.services.billing_engine.api import plans_router, usage_router
from v100.services.billing_engine.billing_api import (
    invoices_router,
    revenue_shares_router,
    subscriptions_router,
)
from v100.services.billing_engine.models import Base
from v100.services.billing_engine.settings import BillingEngineSettings as Settings

DATABASE = DatabaseSpec(Base.metadata, Path(__file__).parent / "migrations")


def create_app(settings: Settings | None = None) -> FastAPI:
    startup, shutdown = job_hooks(tasks.jobs)
    return create_service_app(
        settings or Settings(),
        title="V100 billing_engine",
        routers=[
            plans_router,
            usage_router,
            subscriptions_router,
            invoices_router,
            revenue_shares_router,
        ],
        database=DATABASE,
        on_startup=[startup],
        on_shutdown=[shutdown],
    )
