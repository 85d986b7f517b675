"""ai_orchestration's queries, every one filtered by tenant: provider keys by provider,
knowledge bases, agents
and their versions, conversations and their messages in order, test sets, runs and their
results, and the conditional updates that move a test run through its states."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select, tuple_, update

from v100.kit.db import Page, TenantRepository, utcnow
from v100.services.ai_orchestration.models import (
    Agent,
    AgentVersion,
    Conversation,
    ConversationMessage,
    KnowledgeBase,
    ProviderKey,
    TestResult,
    TestRun,
    TestSet,
)

__all__ = [
    "AgentRepository",
    "AgentVersionRepository",
    "ConversationRepository",
    "KnowledgeBaseRepository",
    "MessageRepository",
    "ProviderKeyRepository",
    "TestResultRepository",
    "TestRunRepository",
    "TestSetRepository",
]


class ProviderKeyRepository(TenantRepository[ProviderKey]):
    model = ProviderKey

    async def of(self, tenant_id: str, provider: str) -> ProviderKey | None:
        statement = self.select_for(tenant_id).where(ProviderKey.provider == provider)
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def all(self, tenant_id: str) -> Sequence[ProviderKey]:
        return (await self.session.execute(self.select_for(tenant_id))).scalars().all()


class KnowledgeBaseRepository(TenantRepository[KnowledgeBase]):
    model = KnowledgeBase


class AgentRepository(TenantRepository[Agent]):
    model = Agent

    async def with_current(
        self, tenant_id: str, agent_id: str
    ) -> tuple[Agent, AgentVersion] | None:
        """The agent and its current version in one query (a chat call's first read: one round
        trip fewer before the vendor is called); None when either is missing."""
        statement = (
            select(Agent, AgentVersion)
            .join(
                AgentVersion,
                (AgentVersion.agent_id == Agent.id) & (AgentVersion.version == Agent.version),
            )
            .where(Agent.tenant_id == tenant_id, Agent.id == agent_id,
                   AgentVersion.tenant_id == tenant_id)
        )  # fmt: skip
        row = (await self.session.execute(statement)).one_or_none()
        return None if row is None else (row[0], row[1])


class AgentVersionRepository(TenantRepository[AgentVersion]):
    model = AgentVersion

    async def of(self, tenant_id: str, agent_id: str, version: int) -> AgentVersion | None:
        statement = self.select_for(tenant_id).where(
            AgentVersion.agent_id == agent_id, AgentVersion.version == version
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def currents(self, tenant_id: str, agents: Sequence[Agent]) -> Sequence[AgentVersion]:
        """The current version of each of ``agents``, in one query."""
        if not agents:
            return []
        statement = self.select_for(tenant_id).where(
            tuple_(AgentVersion.agent_id, AgentVersion.version).in_(
                [(agent.id, agent.version) for agent in agents]
            )
        )
        return (await self.session.execute(statement)).scalars().all()

    async def page(
        self, tenant_id: str, agent_id: str, *, limit: int, cursor: str | None
    ) -> Page[AgentVersion]:
        return await self.list(
            tenant_id, limit=limit, cursor=cursor, where=[AgentVersion.agent_id == agent_id]
        )


class ConversationRepository(TenantRepository[Conversation]):
    model = Conversation

    async def of(self, tenant_id: str, agent_id: str, conversation_id: str) -> Conversation | None:
        statement = self.select_for(tenant_id).where(
            Conversation.agent_id == agent_id, Conversation.id == conversation_id
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def page(
        self, tenant_id: str, agent_id: str, *, limit: int, cursor: str | None
    ) -> Page[Conversation]:
        return await self.list(
            tenant_id, limit=limit, cursor=cursor, where=[Conversation.agent_id == agent_id]
        )


class MessageRepository(TenantRepository[ConversationMessage]):
    model = ConversationMessage

    async def page(
        self, tenant_id: str, conversation_id: str, *, limit: int, cursor: str | None
    ) -> Page[ConversationMessage]:
        """Oldest first: a conversation reads in order."""
        return await self.list(
            tenant_id,
            limit=limit,
            cursor=cursor,
            newest_first=False,
            where=[ConversationMessage.conversation_id == conversation_id],
        )

    async def history(
        self, tenant_id: str, conversation_id: str, *, last: int
    ) -> Sequence[ConversationMessage]:
        """The conversation's last ``last`` messages, oldest first."""
        statement = (
            self.select_for(tenant_id)
            .where(ConversationMessage.conversation_id == conversation_id)
            .order_by(ConversationMessage.id.desc())
            .limit(last)
        )
        rows = (await self.session.execute(statement)).scalars().all()
        return list(reversed(rows))


class TestSetRepository(TenantRepository[TestSet]):
    model = TestSet
    __test__ = False


class TestRunRepository(TenantRepository[TestRun]):
    model = TestRun
    __test__ = False

    async def of(self, tenant_id: str, agent_id: str, run_id: str) -> TestRun | None:
        statement = self.select_for(tenant_id).where(
            TestRun.agent_id == agent_id, TestRun.id == run_id
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def page(
        self, tenant_id: str, agent_id: str, *, limit: int, cursor: str | None
    ) -> Page[TestRun]:
        return await self.list(
            tenant_id, limit=limit, cursor=cursor, where=[TestRun.agent_id == agent_id]
        )

    async def by_id(self, run_id: str) -> TestRun | None:
        """Any tenant's run (its job knows only the id)."""
        statement = select(TestRun).where(TestRun.id == run_id)
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def change(self, run_id: str, *, expect_status: Sequence[str], **values: Any) -> bool:
        """Set ``values`` when the run is in one of ``expect_status``; whether it was."""
        statement = (
            update(TestRun)
            .where(TestRun.id == run_id, TestRun.status.in_(list(expect_status)))
            .values(updated_at=utcnow(), **values)
            .execution_options(synchronize_session=False)
        )
        result = await self.session.execute(statement)
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def unsettled(self, limit: int = 500) -> Sequence[TestRun]:
        """Runs of every tenant still queued or running (for the sweep)."""
        statement = (
            select(TestRun)
            .where(TestRun.status.in_(("queued", "running")), TestRun.job_id.is_not(None))
            .order_by(TestRun.id)
            .limit(limit)
        )
        return (await self.session.execute(statement)).scalars().all()


class TestResultRepository(TenantRepository[TestResult]):
    model = TestResult
    __test__ = False

    async def of_run(self, run_id: str) -> Sequence[TestResult]:
        statement = (
            select(TestResult).where(TestResult.run_id == run_id).order_by(TestResult.position)
        )
        return (await self.session.execute(statement)).scalars().all()

    async def count(self, run_id: str) -> int:
        statement = select(func.count()).select_from(TestResult).where(TestResult.run_id == run_id)
        return int((await self.session.execute(statement)).scalar_one())
