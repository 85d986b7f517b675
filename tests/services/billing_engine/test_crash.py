"""Fault: a real ``v100 serve billing_engine`` process is killed (SIGKILL) in the middle of an
invoicing run, between subscriptions; after a restart the run is made again, and every
subscription is invoiced exactly once for the period (none twice, none missed), each renewed
exactly once. On SQLite and PostgreSQL.

The service runs as a process of its own on the real clock, so the subscriptions start 40 days
before the real now: exactly one monthly period has ended (plus the grace), on any date."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from v100.kit.db import create_engine, create_sessionmaker, migrate, unit_of_work
from v100.kit.jobs import JobStatus, enqueue
from v100.kit.testing.jobs import wait_for_job
from v100.kit.testing.processes import V100Process
from v100.services.billing_engine.app import DATABASE
from v100.services.billing_engine.models import Invoice, Subscription
from v100.services.billing_engine.schemas import PlanCreate
from v100.services.billing_engine.service import CatalogueService
from v100.services.billing_engine.subscriptions import SubscriptionService, add_months
from v100.services.billing_engine.tasks import invoice_due_subscriptions

from .support import INTERNAL_SECRET

pytestmark = pytest.mark.slow

SUBSCRIPTIONS = 200
PERIOD_START = (datetime.now(UTC) - timedelta(days=40)).replace(
    hour=0, minute=0, second=0, microsecond=0
)
NEXT_PERIOD = add_months(PERIOD_START, 1)

Sessions = async_sessionmaker[AsyncSession]


def _tail(log: Path) -> str:
    return log.read_text()[-3000:]


@contextlib.asynccontextmanager
async def service(database_url: str, var_dir: Path, log: Path) -> AsyncIterator[str]:
    """``v100 serve billing_engine`` as a process of its own (embedded jobs, no Redis); its
    base URL once it answers /health. Killed with SIGKILL at the end if still alive."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("V100_") or key.startswith("V100_TEST_")
    }
    env |= {
        "V100_VAR_DIR": str(var_dir),
        "V100_INTERNAL_TOKEN_SECRET": INTERNAL_SECRET,
        "V100_BILLING_ENGINE_DATABASE_URL": database_url,
    }
    served = V100Process("serve", "billing_engine", env=env, log=log)
    try:
        await served.start(ready="/health")
        yield served.url
    finally:
        await served.kill()


async def _count(sessions: Sessions) -> int:
    async with sessions() as session:
        statement = select(func.count()).select_from(Invoice)
        return int((await session.execute(statement)).scalar_one())


async def _subscribe_all(sessions: Sessions) -> list[str]:
    plan = PlanCreate(code="basic", name="Basic", interval="monthly", base_price=1000,
                      currency="USD", tier="pro")  # fmt: skip
    ids = []
    async with unit_of_work(sessions) as session:
        await CatalogueService(session).create_plan(plan)
        for _ in range(SUBSCRIPTIONS):
            # Granted by the operator from the start of the period (a priced plan).
            subscription, _ = await SubscriptionService(session).grant(
                str(uuid.uuid4()), "basic", PERIOD_START
            )
            ids.append(subscription.id)
    return ids


async def _enqueue_run(sessions: Sessions) -> str:
    # No queue runs here: the row waits, and the service's start-up sweep sends it.
    async with unit_of_work(sessions) as session:
        return await enqueue(session, invoice_due_subscriptions)


async def test_a_killed_invoice_run_completes_exactly_once_after_restart(
    database_url: str, tmp_path: Path
) -> None:
    await migrate("billing_engine", database_url, DATABASE.migrations_dir, DATABASE.metadata)
    engine = create_engine(database_url)
    sessions = create_sessionmaker(engine)
    log = tmp_path / "service.log"
    try:
        subscription_ids = await _subscribe_all(sessions)
        first_run = await _enqueue_run(sessions)

        async with service(database_url, tmp_path, log):
            # Kill it once some subscriptions are invoiced and others are not.
            deadline = time.monotonic() + 60
            while await _count(sessions) < SUBSCRIPTIONS // 10:
                assert time.monotonic() < deadline, _tail(log)
                await asyncio.sleep(0.005)
        # The context killed the process (SIGKILL) on leaving: no shutdown path ran.
        at_kill = await _count(sessions)
        assert 0 < at_kill < SUBSCRIPTIONS, "the run finished before it could be killed"

        rerun = await _enqueue_run(sessions)
        async with service(database_url, tmp_path, log):
            job = await wait_for_job(sessions, rerun, within=120)
            assert job.status == JobStatus.SUCCEEDED, (job, _tail(log))

        async with sessions() as session:
            invoices = (
                await session.execute(select(Invoice.subscription_id, Invoice.period_start))
            ).all()
            subscriptions = (await session.execute(select(Subscription))).scalars().all()
        # One invoice per subscription, for the ended period; each renewed once, to the next.
        assert sorted(sub for sub, _ in invoices) == sorted(subscription_ids)
        assert {start for _, start in invoices} == {PERIOD_START}
        assert {(s.period_start, s.status) for s in subscriptions} == {(NEXT_PERIOD, "active")}
        print(f"killed after {at_kill} of {SUBSCRIPTIONS} invoices; the rerun made the rest")
        # The killed run's job is left "running" until its lease lapses; the service's sweeper
        # then runs it again, which finds nothing due (kit.jobs' crash recovery, ADR 0009).
        assert first_run != rerun
    finally:
        await engine.dispose()
