"""One service's job queue in one process: a taskiq broker (in-memory embedded, a Redis stream per
service distributed) carrying job ids, the runner that executes them, timers for delayed sends,
and the sweeper that re-sends what a crash, a failed send or a lost lease left behind."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from taskiq.acks import AcknowledgeType
from taskiq.receiver import Receiver

from v100.kit.db import utcnow
from v100.kit.errors import BackendUnavailable
from v100.kit.jobs._brokers import JobStreamBroker, create_broker
from v100.kit.jobs._enqueue import enqueue_via
from v100.kit.jobs._registry import JobRegistry, JobTask
from v100.kit.jobs._runner import JobRunner
from v100.kit.jobs._scheduler import run_scheduler
from v100.kit.jobs._shutdown import STOP_TIMEOUT, stop_tasks
from v100.kit.jobs._store import JobStore, Sendable
from v100.kit.observability import get_logger

__all__ = ["JobQueue", "SweepReport"]

_log = get_logger("v100.kit.jobs")


@dataclass(frozen=True, slots=True)
class SweepReport:
    """What one sweep did (ids of jobs)."""

    requeued: list[str] = field(default_factory=list)  # lost leases, queued again and sent
    failed: list[str] = field(default_factory=list)  # lost leases on their last attempt
    resent: list[str] = field(default_factory=list)  # queued jobs no message was carrying


class JobQueue:
    """Sends, runs and recovers the jobs of ``registry``'s service, with state in its database.

    Embedded (``redis_url=None``): taskiq's ``InMemoryBroker`` runs each job as a task on this
    event loop as soon as it is sent. Distributed: jobs go to the Redis stream
    ``v100:jobs:<service>`` and ``work()`` (``v100 worker <service>``) runs them, acking each
    message after its job has run.
    """

    def __init__(
        self,
        registry: JobRegistry,
        sessions: async_sessionmaker[AsyncSession],
        *,
        redis_url: str | None = None,
        stream: str | None = None,
        concurrency: int = 16,
        lease_seconds: float = 60.0,
        resend_after: float = 300.0,
        sweep_interval: float = 15.0,
        progress_interval: float = 1.0,
        shutdown_grace: float = 10.0,
    ) -> None:
        self.registry = registry
        self.service = registry.service
        self.sessions = sessions
        self.redis_url = redis_url
        self.stream = stream or f"v100:jobs:{registry.service}"
        self.concurrency = concurrency
        self.lease_seconds = lease_seconds
        self.resend_after = resend_after
        self.sweep_interval = sweep_interval
        self.shutdown_grace = shutdown_grace
        self.broker = create_broker(
            redis_url,
            stream=self.stream,
            concurrency=concurrency,
            redeliver_after=max(lease_seconds * 2, 60.0),
        )
        self._store = JobStore(sessions, registry.service)
        self._runner = JobRunner(
            store=self._store,
            service=registry.service,
            sessions=sessions,
            lease_seconds=lease_seconds,
            progress_interval=progress_interval,
            send_later=self._send_later,
        )
        self._slots = asyncio.Semaphore(concurrency)
        self._executions: set[asyncio.Task[Any]] = set()
        self._timers: dict[str, asyncio.Task[None]] = {}
        self._background: list[asyncio.Task[None]] = []
        self._started = False
        self._closed = False
        # Set by close(): the queue's loops check it as well as being cancelled, since a
        # library may swallow a cancellation (see ``raise_if_cancelled``).
        self._closing = asyncio.Event()
        for task in registry:
            labels: dict[str, Any] = {}
            if task.schedule_labels:
                labels["schedule"] = task.schedule_labels
            self.broker.register_task(self._deliverer(task), task_name=task.name, **labels)
        registry._bind(self)

    @property
    def distributed(self) -> bool:
        return self.redis_url is not None

    @property
    def closed(self) -> bool:
        return self._closed

    def _deliverer(self, task: JobTask) -> Callable[[str], Awaitable[None]]:
        async def deliver(job_id: str) -> None:
            await self._execute(task, job_id)

        deliver.__qualname__ = deliver.__name__ = f"deliver_{task.name.replace('.', '_')}"
        return deliver

    async def _execute(self, task: JobTask, job_id: str) -> None:
        if self._closed:
            return  # the row stays queued; the next start (or another replica) re-sends it
        current = asyncio.current_task()
        if current is not None:
            self._executions.add(current)
        try:
            async with self._slots:
                await self._runner.run(task, job_id)
        except Exception as exc:  # e.g. the database is down at claim time: a sweep re-sends
            _log.error("job delivery failed", job_id=job_id, task=task.name, error=repr(exc))
        finally:
            if current is not None:
                self._executions.discard(current)

    # -- sending -------------------------------------------------------------------------

    async def enqueue(
        self,
        session: AsyncSession,
        task: JobTask,
        *args: Any,
        dedupe_key: str | None = None,
        tenant_id: str | None = None,
        delay: float | timedelta | None = None,
        **kwargs: Any,
    ) -> str:
        """``enqueue`` sending through this queue rather than the registry's current one."""
        if task.registry is not self.registry:
            raise ValueError(f"{task.name} is not a task of {self.service}")
        return await enqueue_via(
            self,
            session,
            task,
            args,
            kwargs,
            dedupe_key=dedupe_key,
            tenant_id=tenant_id,
            delay=delay,
        )

    async def send(self, job_id: str, task_name: str) -> None:
        """Send one message for a job row that exists (and is committed)."""
        declared = self.broker.find_task(task_name)
        if declared is None:
            raise LookupError(f"{self.service} declares no job task {task_name!r}")
        await declared.kiq(job_id)

    async def _send_quietly(self, job: Sendable) -> None:
        try:
            await self.send(job.id, job.task)
        except Exception as exc:  # its row keeps it; a later sweep sends it again
            _log.warning("job send failed", job_id=job.id, task=job.task, error=repr(exc))

    async def _dispatch(self, job_id: str, task_name: str, run_after: datetime) -> None:
        """After the enqueueing transaction committed: send now, or when due."""
        if self._closed:
            return
        if run_after <= utcnow():
            await self.send(job_id, task_name)
        else:
            self._send_later(job_id, task_name, run_after)

    def _send_later(self, job_id: str, task_name: str, when: datetime) -> None:
        if self._closed:
            return
        previous = self._timers.pop(job_id, None)
        if previous is not None:
            previous.cancel()
        timer = asyncio.create_task(self._send_when_due(job_id, task_name, when))
        self._timers[job_id] = timer

        def forget(done: asyncio.Task[None]) -> None:
            if self._timers.get(job_id) is done:
                del self._timers[job_id]

        timer.add_done_callback(forget)

    async def _send_when_due(self, job_id: str, task_name: str, when: datetime) -> None:
        # A few milliseconds late rather than early: the row's ``run_after`` decides.
        await asyncio.sleep(max(0.0, (when - utcnow()).total_seconds()) + 0.005)
        if self._closed:
            return  # the row stays queued; the next start's sweep sends it
        try:
            # The sweeper may have sent it already; only one of them does.
            if await self._store.mark_sent(job_id) is not None:
                await self.send(job_id, task_name)
        except Exception as exc:
            _log.warning("delayed job send failed", job_id=job_id, error=repr(exc))

    # -- recovery ------------------------------------------------------------------------

    async def sweep(self, *, resend_after: float | None = None) -> SweepReport:
        """One recovery pass: jobs whose runner died (lease expired) are queued again and sent,
        or failed on their last attempt; due queued jobs that no message carries are sent.

        A queued job counts as carried by a message for ``resend_after`` seconds after its last
        send, unless the broker shows nothing in flight (in-memory at start-up, an empty Redis
        stream): then every due queued job is sent now. Duplicates are harmless: a job runs
        only for the runner whose claim wins.
        """
        if resend_after is None:
            resend_after = 0.0 if await self._nothing_in_flight() else self.resend_after
        # Taken first, so the jobs this sweep re-queues (sent just below) are not sent twice.
        resend_before = utcnow() - timedelta(seconds=resend_after)
        requeued, failed = await self._store.expire_leases(self.lease_seconds)
        unsent = await self._store.take_unsent(resend_before)
        for job in [*requeued, *unsent]:
            await self._send_quietly(job)
        for job in await self._store.upcoming(utcnow() + timedelta(seconds=self.sweep_interval)):
            if job.id not in self._timers:
                self._send_later(job.id, job.task, job.run_after)
        if requeued or failed:
            _log.warning(
                "recovered jobs of a stopped runner",
                service=self.service,
                requeued=len(requeued),
                failed=len(failed),
            )
        return SweepReport(
            requeued=[job.id for job in requeued],
            failed=failed,
            resent=[job.id for job in unsent],
        )

    async def _nothing_in_flight(self) -> bool:
        if not isinstance(self.broker, JobStreamBroker):
            return False  # an in-memory backlog may be waiting for a free slot
        return await self.broker.nothing_in_flight()

    async def _sweep_forever(self) -> None:
        while not await self._closed_within(self.sweep_interval):
            try:
                await self.sweep()
            except Exception as exc:  # the database or broker may be back next time
                _log.warning("job sweep failed", service=self.service, error=repr(exc))

    async def _closed_within(self, seconds: float) -> bool:
        """Wait up to ``seconds`` for close(); whether the queue is closing."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._closing.wait()
        return self._closed

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self, *, schedule: bool | None = None) -> SweepReport:
        """Open the broker, recover (one sweep, as the start-up recovery), then keep sweeping
        every ``sweep_interval``. ``schedule`` runs the cron scheduler here (default: embedded
        only; distributed, ``v100 worker`` runs it)."""
        if self._closed:
            raise RuntimeError("this job queue was closed")
        if self._started:
            raise RuntimeError("this job queue is already started")
        self._started = True
        await self.broker.startup()
        # In-memory messages die with their process, so at start every queued job is lost.
        report = await self.sweep(resend_after=0.0 if not self.distributed else None)
        if self._closed:  # closed while starting (a shutdown during start-up)
            return report
        self._background.append(asyncio.create_task(self._sweep_forever()))
        if schedule is None:
            schedule = not self.distributed
        if schedule and any(task.schedule_labels for task in self.registry):
            self._background.append(asyncio.create_task(run_scheduler(self)))
        return report

    async def work(self, stop: asyncio.Event) -> None:
        """Run jobs from the Redis stream until ``stop`` is set; running jobs then get up to
        ``shutdown_grace`` seconds to finish. Reconnects while Redis is away."""
        if not self.distributed:
            raise RuntimeError("embedded jobs run where they are sent; there is no stream to read")
        self.broker.is_worker_process = True
        delay = 0.5
        while not stop.is_set():
            receiver = Receiver(
                broker=self.broker,
                run_startup=False,
                max_async_tasks=self.concurrency,
                propagate_exceptions=False,
                # After the job ran, whatever happened (the row holds the outcome): a worker
                # that dies mid-job leaves the message to be claimed by another.
                ack_type=AcknowledgeType.WHEN_EXECUTED,
                wait_tasks_timeout=self.shutdown_grace,
            )
            try:
                await receiver.listen(stop)
                delay = 0.5
            except Exception as exc:
                _log.warning(
                    "job stream unavailable; retrying", stream=self.stream, error=repr(exc)
                )
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await stop.wait()
                delay = min(delay * 2, 10.0)
                # A Redis that restarted empty has lost the consumer group: declare it again.
                with contextlib.suppress(Exception):
                    await self.broker.startup()

    async def ping(self) -> None:
        """Readiness: the broker answers."""
        if not self._started or self._closed:
            raise BackendUnavailable(f"{self.service} job queue is not running")
        if isinstance(self.broker, JobStreamBroker):
            await self.broker.ping()

    async def close(self) -> None:
        """Stop sweeping and scheduling, give running jobs ``shutdown_grace`` seconds, then
        interrupt the rest (they go back to queued, their attempt not counted). Every wait is
        bounded: a task that will not stop is logged and left behind."""
        if self._closed:
            return
        self._closed = True
        self._closing.set()
        self.registry._unbind(self)
        background = [*self._background, *self._timers.values()]
        await stop_tasks(background, within=STOP_TIMEOUT, what="job queue task")
        running = [task for task in self._executions if task is not asyncio.current_task()]
        if running:
            _, unfinished = await asyncio.wait(running, timeout=self.shutdown_grace)
            await stop_tasks(unfinished, within=STOP_TIMEOUT, what="interrupted job")
        try:
            async with asyncio.timeout(STOP_TIMEOUT):
                if self._started:
                    await self.broker.shutdown()
                elif isinstance(self.broker, JobStreamBroker):
                    await self.broker.connection_pool.disconnect()
        except TimeoutError:
            _log.error("job broker did not close in time", service=self.service)

    async def __aenter__(self) -> JobQueue:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        mode = f"redis stream {self.stream}" if self.distributed else "in-memory"
        return f"<JobQueue {self.service} ({mode})>"
