"""Cron and interval jobs: taskiq's ``TaskiqScheduler`` with its ``LabelScheduleSource`` reading the
``cron=`` / ``interval=`` given to ``@jobs.task``. Each tick becomes a job row whose dedupe key is
the schedule and the tick, so every replica may run the scheduler and a tick still runs once."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from taskiq.abc.schedule_source import ScheduleSource
from taskiq.api import run_scheduler_task
from taskiq.schedule_sources import LabelScheduleSource
from taskiq.scheduler.scheduled_task import ScheduledTask
from taskiq.scheduler.scheduler import TaskiqScheduler

from v100.kit.db import unit_of_work, utcnow
from v100.kit.jobs._enqueue import enqueue_via
from v100.kit.observability import get_logger

if TYPE_CHECKING:
    from v100.kit.jobs._queue import JobQueue

__all__ = ["JobScheduler", "run_scheduler", "tick_key"]

_log = get_logger("v100.kit.jobs")


def tick_key(task: ScheduledTask, now: datetime) -> str:
    """The dedupe key of the tick ``now`` falls in: cron ticks are whole minutes (cron's own
    resolution), interval ticks are ``interval``-second slots of the epoch."""
    if task.cron is not None:
        slot = now.strftime("%Y-%m-%dT%H:%MZ")
    elif task.interval is not None:
        seconds = task.interval if isinstance(task.interval, int) else task.interval.total_seconds()
        slot = str(int(now.timestamp() // max(1, int(seconds))))
    else:
        slot = now.isoformat()
    return f"schedule:{task.schedule_id}:{slot}"


class JobScheduler(TaskiqScheduler):
    """A ``TaskiqScheduler`` whose ticks enqueue durable jobs instead of bare messages."""

    def __init__(self, queue: JobQueue) -> None:
        super().__init__(queue.broker, [LabelScheduleSource(queue.broker)])
        self.queue = queue

    async def on_ready(self, source: ScheduleSource, task: ScheduledTask) -> None:
        declared = self.queue.registry.get(task.task_name)
        if declared is None:
            _log.warning("schedule names an unknown job task", task=task.task_name)
            return
        key = tick_key(task, utcnow())
        try:
            async with unit_of_work(self.queue.sessions) as session:
                args, kwargs = tuple(task.args), dict(task.kwargs)
                await enqueue_via(self.queue, session, declared, args, kwargs, dedupe_key=key)
        except Exception as exc:  # the next tick comes; this one is logged, not fatal
            _log.error("scheduled job not enqueued", task=task.task_name, error=repr(exc))


async def run_scheduler(queue: JobQueue) -> None:
    """Run the schedules of ``queue``'s registry until cancelled."""
    await run_scheduler_task(JobScheduler(queue), run_startup=False)
