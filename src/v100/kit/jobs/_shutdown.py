"""Stopping what a job queue started, with every wait bounded: tasks are cancelled and waited on
for at most a few seconds, and a cancellation that a library swallowed is raised again rather
than leaving a loop to run (and its closer to wait) forever."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from v100.kit.observability import get_logger

__all__ = ["STOP_TIMEOUT", "raise_if_cancelled", "stop_tasks"]

_log = get_logger("v100.kit.jobs")

# How long a cancelled task gets to clean up (a job hands its row back, a sweep finishes its
# statement) before shutdown goes on without it. Only reached when something is wrong.
STOP_TIMEOUT = 10.0


def raise_if_cancelled() -> None:
    """Raise ``CancelledError`` if the current task has been asked to stop.

    Called after each Redis command: on Python 3.11 redis-py sends through ``asyncio.wait_for``
    (its ``socket_timeout``), which returns normally when a cancellation arrives just after the
    write completed (CPython gh-86296, fixed in 3.12). The request is still counted by
    ``Task.cancelling()``, so it can be honoured here instead of being lost.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def stop_tasks(tasks: Iterable[asyncio.Task[Any]], *, within: float, what: str) -> None:
    """Cancel ``tasks`` and wait at most ``within`` seconds for them to end. One that does not
    (its code ignores cancellation) is logged and left behind, not waited on forever."""
    pending = {task for task in tasks if not task.done()}
    for task in pending:
        task.cancel()
    if not pending:
        return
    done, stuck = await asyncio.wait(pending, timeout=within)
    for task in done:
        if not task.cancelled():
            task.exception()  # retrieved: each of these tasks logs its own failures
    for task in stuck:
        _log.error(
            "task did not stop; shutdown goes on without it", what=what, task=task.get_name()
        )
