"""Builds the billing app."""

import asyncio
import gc
from pathlib import Path

from fastapi import FastAPI

from v100.kit.http import DatabaseSpec, Runtime, create_service_app
from v100.kit.jobs import job_hooks
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
    startup, shutdown = job_hooks(tasks.jobs)
    app: FastAPI

    async def open_batcher(runtime: Runtime) -> None:
        assert runtime.sessions is not None
        app.state.deductions = DeductionBatcher(runtime.sessions, settings, runtime.bus)

    async def freeze_startup_objects(runtime: Runtime) -> None:
        # Everything alive once the app is up and migrated (modules, routes, mappers, compiled
        # statements) lives as long as the process; moving it out of the collector's reach
        # keeps full collections short under load (docs/billing.md, credits ledger section).
        async def freeze() -> None:
            await runtime.migrated.wait()
            gc.collect()
            gc.freeze()

        app.state.gc_freeze = asyncio.create_task(freeze())

    async def open_stripe(runtime: Runtime) -> None:
        # Without keys, checkout answers 501 (not-configured) and the rest of billing works.
        app.state.stripe = None
        if settings.stripe_api_key and settings.stripe_webhook_secret:
            app.state.stripe = StripeCheckout(
                settings.stripe_api_key.get_secret_value(),
                settings.stripe_webhook_secret.get_secret_value(),
                api_base=settings.stripe_api_base,
                tolerance_seconds=settings.stripe_webhook_tolerance_seconds,
            )

    async def stop_freeze(runtime: Runtime) -> None:
        app.state.gc_freeze.cancel()

    async def close_stripe(runtime: Runtime) -> None:
        stripe: StripeCheckout | None = getattr(app.state, "stripe", None)
        if stripe is not None:
            await stripe.aclose()

    app = create_service_app(
        settings,
        title="V100 billing",
        description="Credit accounts, the double-entry ledger, holds and Stripe checkout.",
        routers=[credits_router, checkout_router],
        database=DATABASE,
        on_startup=[startup, open_batcher, freeze_startup_objects, open_stripe],
        on_shutdown=[shutdown, stop_freeze, close_stripe],
        public_paths=[WEBHOOK_PATH],
    )
    return app
