"""Stopping what a job queue started, with every wait bounded: tasks are cancelled and waited on
for at most a few seconds, and a cancellation that a library swallowed is raised again rather
than leaving a loop to run (and its closer to wait) forever (``kit._redis.raise_if_cancelled``)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from v100.kit.observability import get_logger

__all__ = ["STOP_TIMEOUT", "stop_tasks"]

_log = get_logger("v100.kit.jobs")

# How long a cancelled task gets to clean up (a job hands its row back, a sweep finishes its
# statement) before shutdown goes on without it. Only reached when something is wrong.
STOP_TIMEOUT = 10.0


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
