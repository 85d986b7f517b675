"""What a test run's job does: mark the run running; hold credits for every case still to answer
(its prompt and the agent's instructions counted with cl100k, plus the reply's bound), keyed by
the run (``agent-test-run:<id>:hold|capture|release``), so a rerun is charged once; answer each
case with the agent's version (``complete``), check its facts and record it, skipping the cases
a killed attempt already recorded; then capture what the vendor counted (what tool rounds cost
beyond the hold deducted, ``agent-test-run:<id>:excess``) and end completed. An agent's
knowledge-base search runs in the tool loop (its rounds summed into the case's tokens;
platform_api tools are not offered, a run has no caller whose authority they would use). Without
any key for the provider each case is answered that no LLM is configured, at no cost, after an
extractive answer from the agent's knowledge bases when it has any (whose quotes may state the
facts). A refusal (credits, the vendor refusing the key or a request) ends the run ``failed``
with the hold released; a vendor that does not answer is retried by the job, and ends the run
``provider-unavailable`` on the last attempt."""

from __future__ import annotations

from v100.ai.llm import LLMError, LLMRefused, Message, Usage
from v100.contracts.credit_holds import HoldTerms, hold_lifetime
from v100.kit.db import utcnow
from v100.kit.jobs import JobContext
from v100.services.ai_orchestration.calls import ChatCalls, credits_for, estimate_prompt
from v100.services.ai_orchestration.facts import check_facts
from v100.services.ai_orchestration.models import TestResult
from v100.services.ai_orchestration.no_llm import ANSWERED_BY, no_llm_reply
from v100.services.ai_orchestration.repository import (
    AgentVersionRepository,
    TestResultRepository,
    TestRunRepository,
    TestSetRepository,
)
from v100.services.ai_orchestration.resources import Resources
from v100.services.ai_orchestration.targets import agent_target
from v100.services.ai_orchestration.tool_loop import added, answer_with_tools
from v100.services.ai_orchestration.tools import AgentTools

__all__ = ["TEST_RUN", "TestRunFailed", "fail", "run_test"]


class TestRunFailed(Exception):
    """Ends a run ``failed`` with ``slug`` and ``detail`` (never retried)."""

    __test__ = False

    def __init__(self, slug: str, detail: str) -> None:
        super().__init__(f"{slug}: {detail}")
        self.slug = slug
        self.detail = detail


# tasks.py: three attempts of at most the configured timeout (30 minutes by default).
TEST_RUN = HoldTerms(
    kind="agent-test-run",
    reason="ai.test_run",
    work="the test run",
    lifetime=hold_lifetime(1800, attempts=3),
    failure=TestRunFailed,
)


async def run_test(job: JobContext, resources: Resources, run_id: str) -> None:
    async with job.unit_of_work() as session:
        runs = TestRunRepository(session)
        run = await runs.by_id(run_id)
        if run is None or run.status in ("completed", "failed"):
            return
        await runs.change(run_id, expect_status=("queued", "running"), status="running")
        tenant_id = run.tenant_id
        version = await AgentVersionRepository(session).of(
            tenant_id, run.agent_id, run.agent_version
        )
        test_set = await TestSetRepository(session).get(tenant_id, run.test_set_id)
        if version is None or test_set is None:
            return  # deleted meanwhile: the run went with it
        done = {result.position for result in await TestResultRepository(session).of_run(run_id)}
        target = await agent_target(resources.keys, session, tenant_id, version)
        hold_id, held, created_at = run.hold_id, run.held, run.created_at
    system = [Message.system(version.instructions)] if version.instructions else []
    todo = [(i, case) for i, case in enumerate(test_set.cases) if i not in done]
    bound = target.max_tokens or resources.settings.default_max_tokens
    rates = target.credential.rates if target.credential is not None else None

    if target.credential is not None and rates is not None and hold_id is None:
        estimate = Usage(
            sum(estimate_prompt([*system, Message.user(c["prompt"])], ()) for _, c in todo),
            bound * len(todo),
        )
        held = credits_for(estimate, rates)
        hold_id = await TEST_RUN.reserve(
            resources.billing, work_id=run_id, tenant_id=tenant_id, created_at=created_at,
            amount=held, last_attempt=job.is_last_attempt,
        )  # fmt: skip
        async with job.unit_of_work() as session:
            await TestRunRepository(session).change(
                run_id, expect_status=("running",), hold_id=hold_id, held=held
            )

    calls = ChatCalls(resources)
    for position, case in todo:
        prompt = str(case["prompt"])
        usage = Usage(0, 0)
        if target.credential is None:
            answer = await no_llm_reply(
                resources.rag, tenant_id, version.provider, version.model,
                version.knowledge_base_ids, prompt,
            )  # fmt: skip
            answered_by = ANSWERED_BY
        else:
            tools = AgentTools(resources, version, None)
            try:
                replies = await answer_with_tools(
                    calls.model(target).complete, [*system, Message.user(prompt)],
                    calls.options(target), tools.tools, tools,
                    resources.settings.max_tool_rounds,
                )  # fmt: skip
            except LLMRefused as exc:
                raise TestRunFailed("provider-refused", str(exc)[:400]) from exc
            except LLMError as exc:
                if job.is_last_attempt:
                    raise TestRunFailed("provider-unavailable", str(exc)[:400]) from exc
                raise
            answer, answered_by = replies[-1].text, "llm"
            for reply in replies:
                usage = added(usage, reply.usage) or usage
            if usage.total_tokens == 0:
                usage = Usage(estimate_prompt([Message.user(prompt)], ()), 0)
        found, missing = check_facts(answer, case["expected_facts"])
        async with job.unit_of_work() as session:
            session.add(
                TestResult(
                    tenant_id=tenant_id, run_id=run_id, position=position, prompt=prompt,
                    answer=answer, answered_by=answered_by, passed=not missing,
                    found_facts=found, missing_facts=missing,
                    input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
                    created_at=utcnow(),
                )
            )  # fmt: skip
        await job.report_progress(int(100 * (len(done) + 1) / max(1, len(test_set.cases))))
        done.add(position)

    async with job.unit_of_work() as session:
        results = await TestResultRepository(session).of_run(run_id)
    total = Usage(sum(r.input_tokens for r in results), sum(r.output_tokens for r in results))
    credits = None
    if rates is not None and hold_id is not None:
        # Tool rounds may cost more than the hold (one call per case): the rest is deducted.
        amount = credits_for(total, rates)
        credits = await TEST_RUN.settle(
            resources.billing, work_id=run_id, tenant_id=tenant_id, hold_id=hold_id,
            held=amount if held is None else held, amount=amount,
        )  # fmt: skip
    async with job.unit_of_work() as session:
        await TestRunRepository(session).change(
            run_id, expect_status=("running",), status="completed",
            passed=sum(r.passed for r in results), failed=sum(not r.passed for r in results),
            input_tokens=total.input_tokens, output_tokens=total.output_tokens,
            credits=credits, finished_at=utcnow(),
        )  # fmt: skip


async def fail(job: JobContext, resources: Resources, run_id: str, slug: str, detail: str) -> None:
    """End the run failed and give its hold back."""
    async with job.unit_of_work() as session:
        runs = TestRunRepository(session)
        run = await runs.by_id(run_id)
        if run is None:
            return
        await runs.change(
            run_id, expect_status=("queued", "running"), status="failed", error=slug,
            error_detail=detail[:500], finished_at=utcnow(),
        )  # fmt: skip
        hold_id, tenant_id = run.hold_id, run.tenant_id
    if hold_id is not None:
        await TEST_RUN.release(
            resources.billing, work_id=run_id, tenant_id=tenant_id, hold_id=hold_id
        )
