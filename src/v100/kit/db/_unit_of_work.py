"""The one commit point per request: a session that commits when the work succeeds, rolls back
when it raises, and only after a successful commit runs what the work asked to happen next
(enqueue jobs, publish events), so nothing is announced that the database does not hold."""

from __future__ import annotations

import asyncio
import inspect
import logging
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

__all__ = [
    "AfterCommit",
    "SessionHooks",
    "not_interrupted",
    "session_hooks",
    "unit_of_work",
    "writers_turn",
]

T = TypeVar("T")

log = logging.getLogger(__name__)

AfterCommit = Callable[[], Awaitable[object] | object]

_HOOKS_KEY = "v100.session_hooks"


class SessionHooks:
    """Callbacks attached to one session, run by ``unit_of_work`` after it commits."""

    __slots__ = ("_after_commit",)

    def __init__(self) -> None:
        self._after_commit: list[AfterCommit] = []

    def after_commit(self, fn: AfterCommit) -> None:
        """Run ``fn`` (sync or async, no arguments) once the unit of work has committed.

        Dropped if the unit of work rolls back.
        """
        self._after_commit.append(fn)

    def _take(self) -> list[AfterCommit]:
        taken, self._after_commit = self._after_commit, []
        return taken


def session_hooks(session: AsyncSession) -> SessionHooks:
    """The hooks of ``session``: ``session_hooks(session).after_commit(fn)``.

    Bound to the session rather than to a context variable, so work started from the request
    (or a job) carries its hooks wherever the session goes, and two sessions never mix them.
    """
    hooks = session.info.get(_HOOKS_KEY)
    if not isinstance(hooks, SessionHooks):
        hooks = SessionHooks()
        session.info[_HOOKS_KEY] = hooks
    return hooks


async def not_interrupted(work: Coroutine[Any, Any, T], *, within: float = 10.0) -> T:
    """Run ``work`` (a unit of work, typically) to its end even if the caller is cancelled
    meanwhile: the cancellation is raised once ``work`` finished, or after ``within`` seconds.

    A loop cancelled at shutdown would otherwise be stopped between its transaction's
    statements, and on SQLite the abandoned connection keeps the write lock until it is
    collected, so whatever else writes at shutdown waits for the lock and fails.
    """
    task = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        await asyncio.wait([task], timeout=within)
        raise


_TURNS: weakref.WeakKeyDictionary[AsyncEngine, asyncio.Lock] = weakref.WeakKeyDictionary()


@asynccontextmanager
async def writers_turn(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[None]:
    """Wait for this process's turn to write, on SQLite; at once elsewhere.

    SQLite lets one connection write at a time. Loops that write in bursts (a dispatcher, an
    outcome writer, an intake) would otherwise collide on the file's lock, and the loser sleeps
    in SQLite's busy handler, and fails after its timeout when the event loop is too busy to let
    the winner finish its transaction. Taking turns on an asyncio lock queues them in the loop
    instead, without a timeout. PostgreSQL locks rows, so its writers never wait here.

        async with writers_turn(sessions), unit_of_work(sessions) as session:
            ...
    """
    engine = sessionmaker.kw.get("bind")
    if not isinstance(engine, AsyncEngine) or engine.dialect.name != "sqlite":
        yield
        return
    turn = _TURNS.get(engine)
    if turn is None:
        turn = _TURNS[engine] = asyncio.Lock()
    async with turn:
        yield


@asynccontextmanager
async def unit_of_work(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """Open a session, yield it, commit on success or roll back on any exception, then run the
    after-commit hooks.

    The app factory wraps this as a FastAPI dependency; jobs use it directly. Code inside never
    calls ``commit()`` itself.
    """
    async with sessionmaker() as session:
        hooks = session_hooks(session)
        try:
            yield session
        except BaseException:
            hooks._take()
            await session.rollback()
            raise
        await session.commit()
        pending = hooks._take()
    # The connection is back in the pool before hooks run: publishing may be slow.
    await _run(pending)


async def _run(pending: list[AfterCommit]) -> None:
    # The data is committed whatever a hook does, so one failing hook must not stop the others
    # nor turn a done request into an error. Durable work keeps its state in the service's own
    # table, which lets a sweeper re-enqueue what a failed hook did not send.
    for fn in pending:
        try:
            result = fn()
            if inspect.isawaitable(result):
                await result
        except Exception:
            log.exception("after-commit hook %r failed", fn)
