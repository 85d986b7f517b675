"""A service's job declarations: ``JobRegistry`` collects the tasks of one service (its
``tasks.py``) with their retry, timeout and schedule options, before any queue exists; the
``JobQueue`` built at start-up binds to it and registers each task with its taskiq broker."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from v100.kit.jobs._table import TASK_NAME_LENGTH

if TYPE_CHECKING:
    from v100.kit.jobs._queue import JobQueue

__all__ = ["JobFunction", "JobRegistry", "JobTask"]

JobFunction = Callable[..., Awaitable[Any]]


@dataclass(frozen=True, eq=False)
class JobTask:
    """A declared task: ``fn(job: JobContext, *args, **kwargs)`` and how to run it."""

    registry: JobRegistry
    name: str
    fn: JobFunction
    max_attempts: int
    # Seconds before the first retry, doubled per attempt up to ``max_backoff``.
    backoff: float
    max_backoff: float
    # Seconds one attempt may take; a timeout counts as a failed attempt.
    timeout: float | None
    cron: str | None = None
    interval: int | None = None
    _signature: inspect.Signature = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_signature", inspect.signature(self.fn))

    def check_arguments(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Raise ``TypeError`` now, at enqueue time, rather than in a worker later."""
        try:
            self._signature.bind(None, *args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"bad arguments for job {self.name}: {exc}") from None

    @property
    def schedule_labels(self) -> list[dict[str, Any]]:
        """taskiq's ``schedule`` label, read by ``LabelScheduleSource``. The ids are stable (not
        taskiq's random default) because each tick is deduplicated by schedule id and time
        across every replica running the scheduler."""
        schedules: list[dict[str, Any]] = []
        if self.cron is not None:
            schedules.append({"cron": self.cron, "schedule_id": f"{self.name}@cron"})
        if self.interval is not None:
            schedules.append({"interval": self.interval, "schedule_id": f"{self.name}@interval"})
        return schedules

    def __repr__(self) -> str:
        return f"<JobTask {self.name}>"


# Every task declared in this process, by name: services enqueue by name (``enqueue(session,
# "video_processing.render_clip", ...)``), so the code that queues work never imports the
# tasks module that runs it, and tasks.py may import the service freely (no import circles).
_DECLARED: dict[str, JobTask] = {}


def task_named(name: str) -> JobTask:
    """The task declared under ``name`` in this process (its ``tasks.py`` imported)."""
    declared = _DECLARED.get(name)
    if declared is None:
        service = name.partition(".")[0]
        raise LookupError(
            f"no job task {name!r} is declared in this process: is "
            f"v100.services.{service}.tasks imported (the service's app imports it)?"
        )
    return declared


class JobRegistry:
    """The tasks of one service, declared in its ``tasks.py`` before any queue exists; each
    task takes the ``JobContext`` first:

        jobs = JobRegistry("billing")

        @jobs.task(max_attempts=5, backoff=2.0)
        async def settle_invoice(job: JobContext, invoice_id: str) -> None:
            async with job.unit_of_work() as session:
                ...

        @jobs.task(cron="0 3 * * *")  # every day at 03:00 UTC
        async def close_day(job: JobContext) -> None: ...

    ``requires``: checks that must pass before any of these jobs can run (the FFmpeg the media
    jobs call, say); the app's start-up (``running_jobs``) and ``run_worker`` await each first, so
    a process that cannot run the jobs refuses to start, with the check's error.
    """

    def __init__(
        self, service: str, *, requires: Sequence[Callable[[], Awaitable[None]]] = ()
    ) -> None:
        self.service = service
        self.requires = tuple(requires)
        self._tasks: dict[str, JobTask] = {}
        # Queues open on this registry in this process, latest last (one, outside tests).
        self._queues: list[JobQueue] = []

    def task(
        self,
        name: str | None = None,
        *,
        max_attempts: int = 3,
        backoff: float = 1.0,
        max_backoff: float = 300.0,
        timeout: float | None = None,
        cron: str | None = None,
        interval: int | None = None,
    ) -> Callable[[JobFunction], JobTask]:
        """Declare an async task. Its first parameter receives the ``JobContext``; the others
        are the JSON-serializable arguments given to ``enqueue``."""
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if interval is not None and interval < 1:
            raise ValueError("interval is in whole seconds, at least 1")

        def declare(fn: JobFunction) -> JobTask:
            if not inspect.iscoroutinefunction(fn):
                raise TypeError(
                    f"{fn.__qualname__} must be async; run blocking work in a thread or process"
                )
            task_name = name or f"{self.service}.{fn.__name__}"
            if len(task_name) > TASK_NAME_LENGTH:
                raise ValueError(f"task name longer than {TASK_NAME_LENGTH}: {task_name!r}")
            if task_name in self._tasks:
                raise ValueError(f"job task {task_name!r} is declared twice")
            if not inspect.signature(fn).parameters:
                raise TypeError(f"{fn.__qualname__} must take the JobContext first")
            declared = JobTask(
                registry=self,
                name=task_name,
                fn=fn,
                max_attempts=max_attempts,
                backoff=backoff,
                max_backoff=max_backoff,
                timeout=timeout,
                cron=cron,
                interval=interval,
            )
            self._tasks[task_name] = declared
            _DECLARED[task_name] = declared
            return declared

        return declare

    def get(self, name: str) -> JobTask | None:
        return self._tasks.get(name)

    def __iter__(self) -> Iterator[JobTask]:
        return iter(self._tasks.values())

    def __len__(self) -> int:
        return len(self._tasks)

    @property
    def queue(self) -> JobQueue | None:
        """The queue that sends this registry's jobs in this process: the latest one created
        and not closed yet."""
        return self._queues[-1] if self._queues else None

    def _bind(self, queue: JobQueue) -> None:
        self._queues.append(queue)

    def _unbind(self, queue: JobQueue) -> None:
        if queue in self._queues:
            self._queues.remove(queue)

    def __repr__(self) -> str:
        return f"<JobRegistry {self.service}: {len(self._tasks)} tasks>"
