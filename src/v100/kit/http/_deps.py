"""FastAPI dependencies every service uses: the runtime, the caller (a Principal), and the
request's session (one commit point; after-commit hooks enqueue jobs and publish events)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from v100.kit import db as kit_db
from v100.kit.auth import Principal
from v100.kit.errors import BackendUnavailable, Unauthorized
from v100.kit.http._app import Runtime

__all__ = ["PrincipalDep", "RuntimeDep", "SessionDep"]


# async on purpose: FastAPI runs a plain ``def`` dependency in the thread pool, a thread hop on
# every request for what is an attribute read.
async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def get_principal(request: Request) -> Principal:
    principal = getattr(request.state, "principal", None)
    if not isinstance(principal, Principal):
        raise Unauthorized("No caller identity on this request.")
    return principal


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    runtime: Runtime = request.app.state.runtime
    if runtime.sessions is None:
        raise RuntimeError(f"{runtime.settings.service} has no database")
    if not runtime.migrated.is_set():
        raise BackendUnavailable("The database is not ready yet.", retry_after=1)
    async with kit_db.unit_of_work(runtime.sessions) as session:
        yield session


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
# scope="function": commit before the response is sent, so a failed commit is the answer.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
