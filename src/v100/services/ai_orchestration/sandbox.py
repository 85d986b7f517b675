"""The Training Sandbox: test sets (prompts with the facts a good answer states), runs of one
version of an agent against a set (a job: ``queued -> running -> completed | failed``, each
case's answer and facts recorded as it goes), and two runs of the same set side by side (which
cases a change fixed, which it broke). Pass or fail is whether the expected facts appear in
the answer as words (``facts.py``): a check of words, not of meaning."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from v100.kit.db import Page
from v100.kit.jobs import enqueue
from v100.services.ai_orchestration.errors import (
    RunsNotComparable,
    TestRunNotFound,
    TestSetNotFound,
)
from v100.services.ai_orchestration.models import TestResult, TestRun, TestSet
from v100.services.ai_orchestration.repository import (
    TestResultRepository,
    TestRunRepository,
    TestSetRepository,
)
from v100.services.ai_orchestration.service import AgentService

__all__ = ["RUN_JOB", "Sandbox"]

RUN_JOB = "ai_orchestration.run_test"


class Sandbox:
    def __init__(self, agents: AgentService) -> None:
        self.agents = agents

    async def create_set(
        self, session: AsyncSession, tenant_id: str, name: str, cases: list[dict[str, object]]
    ) -> TestSet:
        return await TestSetRepository(session).add(
            TestSet(tenant_id=tenant_id, name=name, cases=cases)
        )

    async def get_set(self, session: AsyncSession, tenant_id: str, set_id: str) -> TestSet:
        found = await TestSetRepository(session).get(tenant_id, set_id)
        if found is None:
            raise TestSetNotFound()
        return found

    async def sets(
        self, session: AsyncSession, tenant_id: str, *, limit: int, cursor: str | None
    ) -> Page[TestSet]:
        return await TestSetRepository(session).list(tenant_id, limit=limit, cursor=cursor)

    async def delete_set(self, session: AsyncSession, tenant_id: str, set_id: str) -> None:
        """The set and its runs."""
        if not await TestSetRepository(session).delete(tenant_id, set_id):
            raise TestSetNotFound()

    async def start(
        self,
        session: AsyncSession,
        tenant_id: str,
        agent_id: str,
        *,
        set_id: str,
        version: int | None,
    ) -> TestRun:
        """A run of the agent's version (its current one by default), queued as a job."""
        agent = await self.agents.get(session, tenant_id, agent_id)
        number = version or agent.version
        await self.agents.version(session, tenant_id, agent_id, number)
        test_set = await self.get_set(session, tenant_id, set_id)
        run = await TestRunRepository(session).add(
            TestRun(
                tenant_id=tenant_id, agent_id=agent_id, agent_version=number,
                test_set_id=test_set.id, status="queued", cases=len(test_set.cases),
                passed=0, failed=0, input_tokens=0, output_tokens=0,
            )
        )  # fmt: skip
        run.job_id = await enqueue(session, RUN_JOB, run.id, tenant_id=tenant_id)
        return run

    async def run(
        self, session: AsyncSession, tenant_id: str, agent_id: str, run_id: str
    ) -> TestRun:
        found = await TestRunRepository(session).of(tenant_id, agent_id, run_id)
        if found is None:
            raise TestRunNotFound()
        return found

    async def results(self, session: AsyncSession, run: TestRun) -> Sequence[TestResult]:
        return await TestResultRepository(session).of_run(run.id)

    async def runs(
        self,
        session: AsyncSession,
        tenant_id: str,
        agent_id: str,
        *,
        limit: int,
        cursor: str | None,
    ) -> Page[TestRun]:
        await self.agents.get(session, tenant_id, agent_id)
        return await TestRunRepository(session).page(
            tenant_id, agent_id, limit=limit, cursor=cursor
        )

    async def compare(
        self, session: AsyncSession, tenant_id: str, agent_id: str, run_id: str, other_id: str
    ) -> tuple[TestRun, TestRun, TestSet]:
        """Two runs of the same test set (409 otherwise), and the set."""
        a = await self.run(session, tenant_id, agent_id, run_id)
        b = await self.run(session, tenant_id, agent_id, other_id)
        if a.test_set_id != b.test_set_id:
            raise RunsNotComparable("The two runs answered different test sets.")
        return a, b, await self.get_set(session, tenant_id, a.test_set_id)
