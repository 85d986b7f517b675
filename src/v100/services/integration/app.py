"""Builds the integration app: the webhooks API, and two loops every replica runs, the intake
(the platform's durable streams into messages and deliveries) and the dispatcher (deliveries to
receivers), both started once the database is migrated."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from fastapi import FastAPI

from v100.kit.http import Access, DatabaseSpec, Runtime, ServiceSpec, create_service_app
from v100.kit.observability import get_logger
from v100.services.integration.clock import Clock
from v100.services.integration.crm.api import CALLBACK_PATH, crm_router
from v100.services.integration.crm.component import crm_component
from v100.services.integration.dispatcher import Dispatcher
from v100.services.integration.events_api import events_router
from v100.services.integration.intake import Intake
from v100.services.integration.models import Base
from v100.services.integration.retention import sweep_hourly
from v100.services.integration.settings import IntegrationSettings as Settings
from v100.services.integration.sms.api import sms_router
from v100.services.integration.sms.callbacks import PUBLIC_PATHS as SMS_PUBLIC_PATHS
from v100.services.integration.sms.outbox import running_outbox
from v100.services.integration.stream_hub import StreamHub
from v100.services.integration.webhooks_api import webhooks_router

DATABASE = DatabaseSpec(Base.metadata, Path(__file__).parent / "migrations")
_log = get_logger("v100.integration")


async def _after_migrations(runtime: Runtime, loop: Callable[[], Awaitable[None]]) -> None:
    await runtime.migrated.wait()
    await loop()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @contextlib.asynccontextmanager
    async def webhooks(runtime: Runtime) -> AsyncIterator[None]:
        assert runtime.sessions is not None
        sessions = runtime.sessions
        clock = Clock()
        dispatcher = Dispatcher(runtime.sessions, settings, clock, runtime.bus)
        hub = StreamHub(runtime.sessions, settings, clock)

        def recorded() -> None:
            dispatcher.wake()
            hub.notify()

        intake = Intake(
            runtime.bus,
            runtime.sessions,
            clock,
            group=settings.consumer_group,
            from_start=settings.consume_from_start,
            on_recorded=recorded,
        )
        runtime.provide(clock)
        runtime.provide(dispatcher)
        runtime.provide(intake)
        runtime.provide(hub)
        runtime.checks["intake"] = intake.ready
        loops = [
            asyncio.create_task(_after_migrations(runtime, dispatcher.run), name="dispatcher"),
            asyncio.create_task(_after_migrations(runtime, intake.run), name="intake"),
            asyncio.create_task(_after_migrations(runtime, hub.run), name="stream hub"),
            asyncio.create_task(
                _after_migrations(
                    runtime,
                    lambda: sweep_hourly(sessions, clock, settings.retention_days),
                ),
                name="retention",
            ),
        ]
        try:
            yield
        finally:
            for task in loops:
                task.cancel()
            _, stuck = await asyncio.wait(loops, timeout=10)
            for task in stuck:
                _log.warning("integration loop did not stop", task=task.get_name())

    return create_service_app(
        ServiceSpec(
            settings,
            title="V100 integration",
            description="Webhook endpoints with signed, retried, durable deliveries; the event "
            "stream (poll, consumer groups, SSE, WebSocket, history); CRM connections (HubSpot, "
            "Salesforce) with two-way contact and activity sync; SMS through Twilio.",
            routers=[webhooks_router, events_router, crm_router, sms_router],
            database=DATABASE,
            # The OAuth callback is the CRM sending the user's browser back: its state is the
            # credential (crm/service.py). The SMS callbacks are signed by Twilio.
            access=Access(public_paths=[CALLBACK_PATH, *SMS_PUBLIC_PATHS]),
            components=[webhooks, crm_component(settings), running_outbox(settings)],
        )
    )
