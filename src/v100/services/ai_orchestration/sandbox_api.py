"""The Training Sandbox's endpoints: test sets under ``/v1/agents/test-sets`` (create, list,
read, delete), and an agent's test runs under ``/v1/agents/{agent_id}/test-runs`` (start one:
202 and a job; list; read one with every case's answer and facts; compare two side by side).
Thin: parse, check the scope, call ``Sandbox``, shape."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from v100.kit.auth import Principal
from v100.kit.http import Authorized, SessionDep
from v100.kit.idempotency import IdempotencyKey, idempotent
from v100.services.ai_orchestration.api import paged
from v100.services.ai_orchestration.deps import SandboxDep
from v100.services.ai_orchestration.models import TestResult, TestRun, TestSet
from v100.services.ai_orchestration.sandbox_schemas import (
    CaseComparison,
    RunComparison,
    RunError,
    TestCase,
    TestResultOut,
    TestRunCreate,
    TestRunOut,
    TestRunPage,
    TestSetCreate,
    TestSetOut,
    TestSetPage,
)

__all__ = ["test_runs_router", "test_sets_router"]

AgentsRead = Annotated[Principal, Depends(Authorized("agents:read"))]
AgentsWrite = Annotated[Principal, Depends(Authorized("agents:write"))]

# Listed before the agents' router: its paths are matched before ``/v1/agents/{agent_id}``.
test_sets_router = APIRouter(prefix="/v1/agents/test-sets", tags=["sandbox"])
test_runs_router = APIRouter(prefix="/v1/agents/{agent_id}/test-runs", tags=["sandbox"])

Limit = Annotated[int, Query(ge=1, le=200)]
Cursor = Annotated[str | None, Query(max_length=200)]
Id = Annotated[str, Path(max_length=36)]


def _set(test_set: TestSet) -> TestSetOut:
    return TestSetOut(
        id=test_set.id,
        name=test_set.name,
        cases=[TestCase.model_validate(case) for case in test_set.cases],
        created_at=test_set.created_at,
    )


def _result(result: TestResult) -> TestResultOut:
    return TestResultOut.model_validate(result, from_attributes=True)


def _run(run: TestRun, results: Sequence[TestResult] | None = None) -> TestRunOut:
    error = None
    if run.error is not None:
        error = RunError(type=f"/problems/{run.error}", detail=run.error_detail)
    return TestRunOut(
        id=run.id, agent_id=run.agent_id, agent_version=run.agent_version,
        test_set_id=run.test_set_id, status=run.status,
        cases=run.cases, passed=run.passed, failed=run.failed, error=error,
        input_tokens=run.input_tokens, output_tokens=run.output_tokens, credits=run.credits,
        created_at=run.created_at, finished_at=run.finished_at,
        results=None if results is None else [_result(r) for r in results],
    )  # fmt: skip


# --- test sets ------------------------------------------------------------------------------


@test_sets_router.post("", status_code=201, response_model=TestSetOut)
async def create_test_set(
    body: TestSetCreate,
    key: IdempotencyKey,
    principal: AgentsWrite,
    sandbox: SandboxDep,
    session: SessionDep,
) -> Response:
    """Create a test set: prompts, each with the facts a good answer states."""
    cases = [case.model_dump() for case in body.cases]
    work = sandbox.create_set(session, principal.tenant_id, body.name, cases)
    return await idempotent(
        session, principal.tenant_id, key, "create_test_set", body, work, _set, status=201
    )


@test_sets_router.get("", response_model=TestSetPage)
async def list_test_sets(
    principal: AgentsRead,
    sandbox: SandboxDep,
    session: SessionDep,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> TestSetPage:
    """The tenant's test sets, newest first."""
    page = await paged(sandbox.sets(session, principal.tenant_id, limit=limit, cursor=cursor))
    return TestSetPage(items=[_set(s) for s in page.items], next_cursor=page.next_cursor)


@test_sets_router.get("/{test_set_id}", response_model=TestSetOut)
async def get_test_set(
    test_set_id: Id, principal: AgentsRead, sandbox: SandboxDep, session: SessionDep
) -> TestSetOut:
    """One test set."""
    return _set(await sandbox.get_set(session, principal.tenant_id, test_set_id))


@test_sets_router.delete("/{test_set_id}", status_code=204)
async def delete_test_set(
    test_set_id: Id, principal: AgentsWrite, sandbox: SandboxDep, session: SessionDep
) -> Response:
    """Delete a test set and its runs."""
    await sandbox.delete_set(session, principal.tenant_id, test_set_id)
    return Response(status_code=204)


# --- test runs ------------------------------------------------------------------------------


@test_runs_router.post("", status_code=202, response_model=TestRunOut)
async def start_test_run(
    agent_id: Id,
    body: TestRunCreate,
    key: IdempotencyKey,
    principal: AgentsWrite,
    sandbox: SandboxDep,
    session: SessionDep,
) -> Response:
    """Run a version of the agent against a test set (a job; billed per token)."""
    work = sandbox.start(
        session, principal.tenant_id, agent_id, set_id=body.test_set_id, version=body.version
    )
    return await idempotent(
        session, principal.tenant_id, key, f"start_test_run:{agent_id}", body, work, _run,
        status=202,
    )  # fmt: skip


@test_runs_router.get("", response_model=TestRunPage)
async def list_test_runs(
    agent_id: Id,
    principal: AgentsRead,
    sandbox: SandboxDep,
    session: SessionDep,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> TestRunPage:
    """The agent's test runs, newest first."""
    page = await paged(
        sandbox.runs(session, principal.tenant_id, agent_id, limit=limit, cursor=cursor)
    )
    return TestRunPage(items=[_run(r) for r in page.items], next_cursor=page.next_cursor)


@test_runs_router.get("/{run_id}", response_model=TestRunOut)
async def get_test_run(
    agent_id: Id, run_id: Id, principal: AgentsRead, sandbox: SandboxDep, session: SessionDep
) -> TestRunOut:
    """One run, with each case's answer and which expected facts it stated."""
    run = await sandbox.run(session, principal.tenant_id, agent_id, run_id)
    return _run(run, await sandbox.results(session, run))


@test_runs_router.get("/{run_id}/compare/{other_run_id}", response_model=RunComparison)
async def compare_test_runs(
    agent_id: Id,
    run_id: Id,
    other_run_id: Id,
    principal: AgentsRead,
    sandbox: SandboxDep,
    session: SessionDep,
) -> RunComparison:
    """Two runs of the same test set side by side (a: the first, b: the other)."""
    a, b, test_set = await sandbox.compare(
        session, principal.tenant_id, agent_id, run_id, other_run_id
    )
    results_a = {r.position: _result(r) for r in await sandbox.results(session, a)}
    results_b = {r.position: _result(r) for r in await sandbox.results(session, b)}
    cases = []
    for position, case in enumerate(test_set.cases):
        left, right = results_a.get(position), results_b.get(position)
        if left is None or right is None:
            change = "missing"
        elif left.passed == right.passed:
            change = "same"
        else:
            change = "fixed" if right.passed else "broken"
        cases.append(
            CaseComparison(
                position=position, prompt=case["prompt"],
                expected_facts=case["expected_facts"], a=left, b=right,
                change=change,
            )
        )  # fmt: skip
    return RunComparison(
        a=_run(a),
        b=_run(b),
        fixed=sum(c.change == "fixed" for c in cases),
        broken=sum(c.change == "broken" for c in cases),
        cases=cases,
    )
