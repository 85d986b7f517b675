"""Builds the billing app."""

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI

from v100.kit.http import Access, DatabaseSpec, Runtime, ServiceSpec, create_service_app
from v100.kit.jobs import running_jobs
from v100.services.billing import tasks
from v100.services.billing.api import credits_router
from v100.services.billing.batching import DeductionBatcher
from v100.services.billing.checkout_api import WEBHOOK_PATH, checkout_router
from v100.services.billing.models import Base
from v100.services.billing.providers.stripe import StripeCheckout
from v100.services.billing.settings import BillingSettings as Settings

DATABASE = DatabaseSpec(Base.metadata, Path(__file__).parent / "migrations")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @contextlib.asynccontextmanager
    async def deductions(runtime: Runtime) -> AsyncIterator[None]:
        assert runtime.sessions is not None
        runtime.provide(DeductionBatcher(runtime.sessions, settings, runtime.bus))
        yield

    @contextlib.asynccontextmanager
    async def frozen_startup_objects(runtime: Runtime) -> AsyncIterator[None]:
        # Everything alive once the app is up and migrated (modules, routes, mappers, compiled
        # statements) lives as long as the process; moving it out of the collector's reach
        # keeps full collections short under load (docs/billing.md, credits ledger section).
        async def freeze() -> None:
            await runtime.migrated.wait()
            gc.collect()
            gc.freeze()

        freezing = asyncio.create_task(freeze())
        try:
            yield
        finally:
            freezing.cancel()

    @contextlib.asynccontextmanager
    async def stripe(runtime: Runtime) -> AsyncIterator[None]:
        # Without keys, checkout answers 501 (not-configured) and the rest of billing works.
        if not (settings.stripe_api_key and settings.stripe_webhook_secret):
            yield
            return
        checkout = StripeCheckout(
            settings.stripe_api_key.get_secret_value(),
            settings.stripe_webhook_secret.get_secret_value(),
            api_base=settings.stripe_api_base,
            tolerance_seconds=settings.stripe_webhook_tolerance_seconds,
        )
        runtime.provide(checkout)
        try:
            yield
        finally:
            await checkout.aclose()

    return create_service_app(
        ServiceSpec(
            settings,
            title="V100 billing",
            description="Credit accounts, the double-entry ledger, holds and Stripe checkout.",
            routers=[credits_router, checkout_router],
            database=DATABASE,
            access=Access(public_paths=[WEBHOOK_PATH]),
            components=[deductions, frozen_startup_objects, stripe, running_jobs(tasks.jobs)],
        )
    )
